"""Crash safety of Hub sync: SIGKILL a real ``ddr-registry push`` / ``pull`` at seeded random points
(:func:`crashtools.crash_trials`), then check the remote (push) or the registry (pull) and re-run.

The Hub is tests/hub_server.py, served from this test process; the killed CLI talks to it over HTTP,
so what the server holds after a kill is exactly what a client SIGKILLed at that point left behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from crashtools import CLI, TRIALS, _db_written, crash_trials, record, verified
from hubtools import PUSHED, REPO, hub_env, registry_state


@dataclass
class HubTrial:
    """One trial's world: a registry home, its own temp folder and HF_HOME, and the server it talks to."""

    folder: Path
    home: Path
    server: Any
    commits_before: frozenset[str] = frozenset()
    lfs_before: frozenset[str] = frozenset()
    log_before: int = 0  # requests the server had seen before this trial (the pull trials share one server)

    @property
    def state(self):
        return self.server.state

    @property
    def tmp(self) -> Path:
        return self.folder / "tmp"

    def env(self) -> dict[str, str]:
        return {**hub_env(self.server.url, self.folder), "TMPDIR": str(self.tmp)}

    def requested(self, method: str, path_part: str) -> bool:
        return any(m == method and path_part in p for m, p in list(self.state.log))


def _hub_cli(trial: HubTrial, *args: str) -> str:
    result = subprocess.run([*CLI, "--home", str(trial.home), *args], env=trial.env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _new_trial(root: Path, label: str, i: int, home_from: Path, server) -> HubTrial:
    folder = root / (f"{label}-{i + 1:02d}" if i >= 0 else f"{label}-timing{-i}")
    folder.mkdir()
    (folder / "tmp").mkdir()
    trial = HubTrial(folder, Path(shutil.copytree(home_from, folder / "home")), server)
    if REPO in trial.state.repos:
        trial.commits_before = frozenset(trial.state.repos[REPO].commits)
    trial.lfs_before = frozenset(trial.state.lfs_objects)
    trial.log_before = len(trial.state.log)
    return trial


def remote_whole(state) -> None:
    """Every commit of the repository is whole: each manifest lists only files that commit holds, with
    the listed sha256 and size; each ``router-vN`` tag points at a commit whose manifest lists router@N."""
    repo = state.repos[REPO]
    for sha, files in repo.commits.items():
        if "manifest.json" not in files:
            continue
        doc = json.loads(files["manifest.json"].data)
        for e in doc["versions"]:
            for f in e["files"]:
                blob = files.get(f["path"])
                assert blob is not None, f"commit {sha[:12]}: {f['path']} is in the manifest but not in the commit"
                assert (blob.sha256, len(blob.data)) == (f["sha256"], f["size"]), f"commit {sha[:12]}: {f['path']} differs from its manifest entry"
    for tag, sha in repo.tags.items():
        assert tag.startswith("router-v"), tag
        files = repo.commits[sha]
        routers = {e["version"] for e in json.loads(files["manifest.json"].data)["versions"] if e["kind"] == "router"}
        assert int(tag.removeprefix("router-v")) in routers, f"tag {tag} points at a commit without that router"


def _head_files(state) -> dict[str, bytes]:
    return state.files(REPO)


@pytest.fixture(scope="module")
def hub_crash_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hub-crash")


@pytest.mark.slow
def test_kill_push(source_home, hub_crash_root):
    """SIGKILL ``push`` (router@production = router@2 and what it uses) onto a repository that already
    holds router@1: the remote keeps its old head or gains the one complete commit, tags follow commits,
    and re-running the push finishes the job (a no-op commit-wise when the killed run had committed)."""
    from hub_server import HubState, serve

    root = hub_crash_root / "push"
    root.mkdir()
    template = HubState(lfs_patterns=("*.safetensors",))  # weights through the LFS batch API, JSON base64 in the commit
    first = serve(template)
    try:
        _hub_cli(_new_trial(root, "template", 0, source_home, first), "push", "--repo", REPO, "--router", "router@1")
    finally:
        first.close()
    remote_whole(template)
    assert set(template.repos[REPO].tags) == {"router-v1"}
    servers: list = []
    timing: dict[int, HubTrial] = {}

    def setup(i: int) -> HubTrial:
        servers.append(serve(template.clone()))
        trial = _new_trial(root, "push", i, source_home, servers[-1])
        timing[i] = trial
        return trial

    milestones = {
        "request": lambda t: len(t.state.log) > t.log_before,  # imports done: the first request reached the server
        # the client has read the branch head and the manifest and asks how to upload: nothing sent yet
        "preupload": lambda t: t.requested("POST", "/preupload/"),
        "uploaded": lambda t: bool(set(t.state.lfs_objects) - t.lfs_before),  # the first LFS object landed
        # the commit request reached the server (its headers; the NDJSON body follows)
        "commit": lambda t: t.requested("POST", "/commit/"),
        # the server applied it: the branch moved
        "committed": lambda t: t.state.commits_made(REPO) > len(t.commits_before),
        "tagged": lambda t: "router-v2" in t.state.repos[REPO].tags,
    }

    def check(t: HubTrial, killed: bool) -> str:
        state, repo = t.state, t.state.repos[REPO]
        reference = _head_files(timing[-1].state)
        remote_whole(state)
        new = [c for c in repo.commits if c not in t.commits_before]
        assert len(new) <= 1, "more than one commit from one push"
        if new:  # the complete commit, never part of it
            assert state.head(REPO) == new[0] and _head_files(state) == reference
        else:
            assert _head_files(state) == _head_files(template), "the remote changed without a commit"
        assert set(repo.tags) <= {"router-v1", "router-v2"}
        tagged = "router-v2" in repo.tags
        assert not tagged or repo.tags["router-v2"] == new[0]
        if not killed:
            label = "completed"
            assert tagged
        elif tagged:
            label = "killed after tagging (work complete)"
        elif new:
            label = "killed after the commit, before the tag"
        elif set(state.lfs_objects) - t.lfs_before:
            label = "killed after uploading LFS objects, before the commit was applied (remote unchanged)"
        else:
            label = "killed before any upload (remote unchanged)"
        out = _hub_cli(t, "push", "--repo", REPO)
        assert ("nothing to push" in out) == bool(new), out
        assert ("tagged router-v2" in out) == (not tagged), out
        remote_whole(state)
        assert _head_files(state) == reference
        assert len(repo.commits) == len(t.commits_before) + 1 and repo.tags["router-v2"] == state.head(REPO)
        t.server.close()
        return label

    try:
        figures = crash_trials(
            cmd=lambda t: [*CLI, "--home", str(t.home), "push", "--repo", REPO],
            setup=setup,
            check=check,
            n=TRIALS,
            seed=10,
            milestones=milestones,
            env=lambda t: t.env(),
        )
    finally:
        for server in servers:
            server.close()
    # requests the server dropped because the kill cut their body short (nothing of them was applied)
    aborted = Counter(f"{m} {'commit' if '/commit/' in p else p.split('/')[1]}" for s in servers for m, p in s.state.aborted)
    figures["requests_cut_mid_body"] = dict(sorted(aborted.items()))
    record("crash_push", figures)
    assert sum(figures["outcomes"].values()) == TRIALS


@pytest.mark.slow
def test_kill_pull(source_home, hub_crash_root):
    """SIGKILL ``pull`` into an empty registry: ``verify`` passes, the registry holds nothing or all of
    the pull (one transaction), and re-running the pull gives what an uninterrupted pull gives."""
    from hub_server import HubState, serve

    from ddr.registry import Registry

    root = hub_crash_root / "pull"
    root.mkdir()
    empty = root / "empty-home"
    Registry.init(empty).close()
    server = serve(HubState(lfs_patterns=("*.safetensors",)))
    expected = registry_state(source_home, PUSHED, as_pushed=True)
    nothing = {"versions": {}, "aliases": []}

    def manifest_downloaded(t: HubTrial) -> bool:
        return any(t.tmp.glob("ddr-pull-*/cache/*/snapshots/*/manifest.json"))

    milestones = {
        "request": lambda t: len(t.state.log) > t.log_before,  # imports done: the first request reached the server
        "manifest": manifest_downloaded,  # fetched and written to the pull's temp cache
        "blob": lambda t: any((t.home / "blobs").glob("*/*")),  # every file downloaded and checked; the first blob stored
        "db": lambda t: _db_written(t.home),  # the import transaction committed
    }

    def check(t: HubTrial, killed: bool) -> str:
        reg = verified(t.home)
        blobs = bool(reg.blobs.all_blobs())
        reg.close()
        got = registry_state(t.home)
        assert got in (nothing, expected), "part of the pull is visible"
        if not killed:
            label = "completed"
            assert got == expected
        elif got == expected:
            label = "killed after the commit (work complete)"
        elif blobs:
            label = "killed after writing blobs, before the commit (only unreferenced blobs left)"
        elif manifest_downloaded(t):
            label = "killed after downloading the manifest, before any blob"
        else:
            label = "killed before the manifest was downloaded"
        out = _hub_cli(t, "pull", "--repo", REPO)
        assert ("imported 0 version(s); 5 already here" if got == expected else "imported 5 version(s) (") in out, out
        assert registry_state(t.home) == expected
        verified(t.home).close()
        return label

    try:
        _hub_cli(_new_trial(root, "source", 0, source_home, server), "push", "--repo", REPO)
        figures = crash_trials(
            cmd=lambda t: [*CLI, "--home", str(t.home), "pull", "--repo", REPO],
            setup=lambda i: _new_trial(root, "pull", i, empty, server),
            check=check,
            n=TRIALS,
            seed=11,
            milestones=milestones,
            env=lambda t: t.env(),
        )
    finally:
        server.close()
    record("crash_pull", figures)
    assert sum(figures["outcomes"].values()) == TRIALS
