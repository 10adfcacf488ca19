"""A registry home that cannot be written, a full disk during publish, and the real process's stderr
(checks in ``badinput``: one line, home unchanged)."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
from badinput import assert_one_line_error, commands, fails_unchanged, invoke, snapshot
from beirdata import make_domain


def _is_writable(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return False
    (folder / ".probe").unlink()
    return True


def test_unwritable_home_chmod(tmp_path, home, tiny_path):
    data = make_domain(tmp_path / "data", "alpha", 0)
    paths = [home, *(p for p in home.rglob("*") if p.is_dir())]
    for p in paths:
        p.chmod(0o500)
    try:
        if _is_writable(home):
            pytest.skip("running as root: chmod 500 does not block writes (test_unwritable_home_parts covers it)")
        for args in [commands(tiny_path, data)["index-build"], commands(tiny_path, data)["add-domain"]]:
            fails_unchanged(home, args, "cannot write", str(home))
    finally:
        for p in paths:
            p.chmod(0o700)


@pytest.mark.parametrize("blocked", ["cache", "tmp", "blobs"])
def test_unwritable_home_parts(tmp_path, home, tiny_path, blocked):
    """A part of the home that cannot be created (a file in the way), which blocks root too."""
    data = make_domain(tmp_path / "data", "alpha", 0)
    if blocked != "cache":  # get past the embedding cache, to the artifact store
        assert invoke(home, commands(tiny_path, data)["index-build"]).exit_code == 0
    shutil.rmtree(home / blocked, ignore_errors=True)
    (home / blocked).write_text("in the way")
    for args in [commands(tiny_path, data)["index-build"], commands(tiny_path, data)["add-domain"]]:
        fails_unchanged(home, args, "cannot", str(home / blocked))


def test_home_under_a_file(tmp_path, tiny_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = invoke(blocker / "home", ["init"])
    assert_one_line_error(result, "cannot create", str(blocker / "home"))
    assert blocker.read_text() == "not a directory"


# ------------------------------------------------------------------ full disk during publish


class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``room`` bytes (part of a chunk lands)."""

    def __init__(self, fh, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.fh.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def fill_disk_after(monkeypatch, blobs_written: int, room: int = 100) -> None:
    """The (blobs_written + 1)-th blob the store writes hits a full disk after ``room`` bytes."""
    from ddr.registry import blobs as blobs_module

    real_open = open
    count = {"writes": 0}

    def fake_open(path, mode="r", *args, **kwargs):
        fh = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            count["writes"] += 1
            if count["writes"] > blobs_written:
                return _FullDisk(fh, room)
        return fh

    monkeypatch.setattr(blobs_module, "open", fake_open, raising=False)


@pytest.mark.parametrize("command, blobs_before_full", [("add-domain", 2), ("add-domain", 0), ("index-build", 1)])
def test_full_disk_during_publish(tmp_path, home, tiny_path, monkeypatch, command, blobs_before_full):
    data = make_domain(tmp_path / "data", "alpha", 0)
    args = commands(tiny_path, data)[command]
    fill_disk_after(monkeypatch, blobs_before_full)
    assert_one_line_error(invoke(home, args), f"registry home {home} is full; nothing was registered")
    monkeypatch.undo()

    listed = invoke(home, ["list", "--json"])
    assert listed.exit_code == 0
    state = json.loads(listed.output)
    assert state["modules"] == [] and state["routers"] == [] and state["aliases"] == []
    assert invoke(home, ["index", "list", "--json"]).output.strip() == "[]"
    assert invoke(home, ["verify"]).exit_code == 0
    assert list((home / "tmp").iterdir()) == [], "a partial blob was left in tmp"
    result = invoke(home, args)
    assert result.exit_code == 0, result.output
    assert invoke(home, ["verify"]).exit_code == 0


# ------------------------------------------------------------------ the real process, not CliRunner


def test_real_process_prints_one_line_on_stderr(tmp_path, home):
    """The installed entry point: stderr is exactly one line, stdout is empty, exit code 1."""
    import subprocess
    import sys

    before = snapshot(home)
    cmd = [sys.executable, "-c", "from ddr.cli.app import main; main()", "--home", str(home)]
    proc = subprocess.run([*cmd, "evaluate", "--data", str(tmp_path / "nope")], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [f"Error: {tmp_path / 'nope'}: no such data directory"]
    assert snapshot(home) == before
