"""Crash safety of the local commands: SIGKILL a real ``ddr-registry add-domain`` / ``index build`` at
seeded random points (:func:`crashtools.crash_trials`), then check.

After every kill: ``verify`` passes (every artifact row's blob exists with its sha256, so no version
is visible without its files), what is visible is whole (a domain module and its router: both or
neither), and re-running the command succeeds. Outcomes are counted by how far the killed run got,
printed, and written to ``$DDR_RELIABILITY_OUT`` (JSON) when set; docs/reliability.md quotes them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from beirdata import make_domain
from crashtools import CLI, TRIALS, _db_written, cli, crash_trials, record, verified

# Where a run is, seen from outside: its first write (passages go to the cache), its first blob,
# its first committed transaction. Between "blob" and "db" lies the publish window.
MILESTONES = {
    "cache": lambda home: (home / "cache").exists(),
    "blob": lambda home: any((home / "blobs").glob("*/*")),
    "db": _db_written,
}


def cache_shards(home: Path) -> list[Path]:
    return sorted((home / "cache").glob("embeddings/*/shard-*.npy"))


def _stage(reg, home: Path) -> str:
    if reg.blobs.all_blobs():
        return "killed after writing blobs, before the commit (unreferenced blobs, gc removes them)"
    if cache_shards(home):
        return "killed after caching passages, before any blob"
    return "killed before any write"


@pytest.fixture(scope="module")
def crash_env(tmp_path_factory, tiny_path):
    """A template registry home and a tiny collection, shared by all trials of one command."""
    from ddr.registry import Registry

    root = tmp_path_factory.mktemp("crash")
    template = root / "template-home"
    Registry.init(template).close()
    data = make_domain(root, "alpha", 0)
    return root, template, data


def fresh_home(root: Path, template: Path, label: str, i: int) -> Path:
    home = root / (f"{label}-{i + 1:02d}" if i >= 0 else f"{label}-timing{-i}")
    shutil.copytree(template, home)
    return home


# ------------------------------------------------------------------ add-domain


@pytest.mark.slow
def test_kill_add_domain(crash_env, tiny_path):
    root, template, data = crash_env
    args = ["add-domain", "alpha", "--data", str(data), "--backbone", tiny_path, "--epochs", "2", "--prefix-length", "4", "--quiet", "--force"]

    def check(home: Path, killed: bool) -> str:
        reg = verified(home)
        modules, routers = reg.module_versions(), reg.router_versions()
        assert len(modules) == len(routers) <= 1, "a module without its router (or the reverse) is visible"
        try:
            live = reg.router_version("router@production").version
        except KeyError:
            live = None
        if not killed:
            label = "completed"
            assert live == 1
        elif live is not None:
            label = "killed after activation (work complete)"
        elif modules:
            label = "killed after the commit, before activation"
        else:
            label = _stage(reg, home)
        reg.close()
        again = cli(home, *args)
        if live is not None:  # the domain is live: re-running is refused by design, in one line
            assert again.exit_code == 1 and again.output.startswith("Error: ") and "already live" in again.output, again.output
        else:
            assert again.exit_code == 0, again.output
            assert f"registered domain/alpha@{len(modules) + 1} and router@{len(routers) + 1}" in again.output
        reg = verified(home)
        assert [m.version for m in reg.module_versions()] == list(range(1, len(reg.module_versions()) + 1))
        assert reg.router_version("router@production").domains[0][0] == "alpha"
        reg.close()
        return label

    figures = crash_trials(
        cmd=lambda home: [*CLI, "--home", str(home), *args],
        setup=lambda i: fresh_home(root, template, "add-domain", i),
        check=check,
        n=TRIALS,
        seed=8,
        milestones=MILESTONES,
    )
    record("crash_add_domain", figures)
    assert sum(figures["outcomes"].values()) == TRIALS


# ------------------------------------------------------------------ index build


@pytest.mark.slow
def test_kill_index_build(crash_env, tiny_path):
    root, template, data = crash_env
    args = ["index", "build", "--data", str(data), "--backbone", tiny_path, "--quiet"]

    def check(home: Path, killed: bool) -> str:
        reg = verified(home)
        records = reg.index_records()
        assert len(records) <= 1
        if not killed:
            label = "completed"
            assert len(records) == 1
        elif records:
            label = "killed after the commit (work complete)"
        else:
            label = _stage(reg, home)
        cached = bool(cache_shards(home))
        reg.close()
        again = cli(home, *args)
        assert again.exit_code == 0, again.output
        assert f"index alpha@{len(records) + 1}: 20 passages" in again.output
        # Resumable: a shard the killed run finished is reused, never re-encoded.
        assert ("(0 encoded now" if cached else "(20 encoded now") in again.output, again.output
        reg = verified(home)
        assert [r.version for r in reg.index_records()] == list(range(1, len(records) + 2))
        reg.close()
        return label

    figures = crash_trials(
        cmd=lambda home: [*CLI, "--home", str(home), *args],
        setup=lambda i: fresh_home(root, template, "index-build", i),
        check=check,
        n=TRIALS,
        seed=9,
        milestones=MILESTONES,
    )
    record("crash_index_build", figures)
    assert sum(figures["outcomes"].values()) == TRIALS
