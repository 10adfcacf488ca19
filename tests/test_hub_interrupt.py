"""Ctrl-C at the end of a push: the Hub applies the commit anyway, so the push must finish (tags too),
say so, exit 0, and leave no temporary files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from hub_server import HubState, serve
from hubtools import REPO, hub_env


def test_sigint_while_committing_finishes_the_push(home_a, tmp_path):
    server = serve(HubState(lfs_threshold=1))
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    env = {**hub_env(server.url, tmp_path), "TMPDIR": str(tmpdir)}
    cmd = [sys.executable, "-c", "from ddr.cli.app import main; main()", "--home", str(home_a), "push", "--repo", REPO]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def interrupt(repo_id, branch):  # the server got the commit request: Ctrl-C now, then apply it
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)

    server.state.before_commit = interrupt
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        server.close()
    assert proc.returncode == 0, out + err
    assert "pushed router@2" in out and "tagged router-v2" in out and "interrupted while committing" in out
    repo = server.state.repos[REPO]
    assert repo.tags["router-v2"] == repo.branches["main"] and "manifest.json" in server.state.files(REPO)
    assert list(tmpdir.iterdir()) == []  # no export or download folder left behind
