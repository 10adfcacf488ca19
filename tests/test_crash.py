"""Crash safety: SIGKILL a real ``ddr-registry`` process at seeded random points, then check.

After every kill: ``verify`` passes (every artifact row's blob exists with its sha256, so no version
is visible without its files), what is visible is whole (a domain module and its router: both or
neither), and re-running the command succeeds. Outcomes are counted by how far the killed run got,
printed, and written to ``$DDR_RELIABILITY_OUT`` (JSON) when set; docs/reliability.md quotes them.

:func:`crash_trials` is generic: the Hub push/pull trials plug in their own ``cmd``/``setup``/``check``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_hub import REPO, source_home  # noqa: F401  (fixture)
from test_retrieval import tiny_path  # noqa: F401  (fixture)

TRIALS = int(os.environ.get("DDR_CRASH_TRIALS", "20"))
CLI = [sys.executable, "-c", "from ddr.cli import main; main()"]


def record(section: str, figures: dict[str, Any]) -> None:
    """Merge ``figures`` under ``section`` into the JSON file named by $DDR_RELIABILITY_OUT (if set)."""
    print(f"\n[reliability] {section}: {json.dumps(figures, sort_keys=True)}")
    out = os.environ.get("DDR_RELIABILITY_OUT")
    if not out:
        return
    path = Path(out)
    data = json.loads(path.read_text()) if path.is_file() and path.stat().st_size else {}
    data[section] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _wait_until(proc: subprocess.Popen, probe: Callable[[Any], bool], ctx: Any) -> bool:
    """Poll until ``probe(ctx)`` holds or the process ends; True if it held while still running."""
    while proc.poll() is None:
        if probe(ctx):
            return True
        time.sleep(0.005)
    return False


def _timed_run(
    argv: list[str], ctx: Any, milestones: dict[str, Callable[[Any], bool]], env: dict[str, str] | None = None
) -> tuple[float, dict[str, float]]:
    """Run to completion; returns (seconds, seconds from launch to each milestone reached)."""
    start = time.monotonic()
    seen: dict[str, float] = {}
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, env=env)
        for name, probe in milestones.items():  # in order: each is reached after the previous one
            if _wait_until(proc, probe, ctx):
                seen[name] = time.monotonic() - start
        _, err = proc.communicate()
    full = time.monotonic() - start
    assert proc.returncode == 0, err.decode(errors="replace")
    return full, seen


def crash_trials(
    cmd: Callable[[Any], list[str]],
    setup: Callable[[int], Any],
    check: Callable[[Any, bool], str],
    n: int,
    seed: int,
    milestones: dict[str, Callable[[Any], bool]] | None = None,
    timing_runs: int = 2,
    env: Callable[[Any], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Run ``cmd(setup(i))`` in a subprocess ``n`` times, SIGKILLing it at a seeded random point.

    ``setup(i)`` prepares fresh state for trial ``i`` (negative ``i``: the uninterrupted timing
    runs) and returns a context; ``cmd(ctx)`` is the argv; ``check(ctx, killed)`` asserts the
    invariants (and re-runs the command) and returns a label for the outcome; labels are counted.

    The kill point: ``milestones`` (name -> probe on the context, in the order a run reaches them:
    "the embedding cache exists", "a blob was written", "the database was written") cut a run into
    phases, the first starting at launch. The uninterrupted timing runs measure each phase (mean
    over ``timing_runs``). Each trial picks a phase uniformly, waits until the process reaches its
    start, sleeps a uniform random fraction of the phase's measured length, and kills the process
    if it is still running. Without milestones this is a uniform fraction of the whole run; with
    them, the short phases (publishing takes milliseconds, importing torch seconds) get their share.

    ``env(ctx)``, if given, is the process environment (the Hub trials point HF_ENDPOINT at a test server).
    """
    milestones = milestones or {}
    environ = env or (lambda ctx: None)
    rng = random.Random(seed)
    runs = [_timed_run(cmd(ctx), ctx, milestones, environ(ctx)) for ctx in (setup(-1 - r) for r in range(timing_runs))]
    full = sum(r[0] for r in runs) / len(runs)
    reached = [m for m in milestones if all(m in r[1] for r in runs)]
    starts = {"launch": 0.0, **{m: sum(r[1][m] for r in runs) / len(runs) for m in reached}}
    order = sorted(starts, key=starts.get)
    phases = {m: (order[j + 1] if j + 1 < len(order) else "end") for j, m in enumerate(order)}
    length = {m: max(0.0, (starts[nxt] if nxt != "end" else full) - starts[m]) for m, nxt in phases.items()}
    outcomes: Counter[str] = Counter()
    points: Counter[str] = Counter()
    killed_count = 0
    for i in range(n):
        ctx = setup(i)
        point = rng.choice(order)
        delay = rng.uniform(0.0, length[point])
        points[f"{point}->{phases[point]}"] += 1
        with open(os.devnull, "wb") as sink:
            proc = subprocess.Popen(cmd(ctx), stdout=sink, stderr=subprocess.PIPE, env=environ(ctx))
            if point != "launch":
                _wait_until(proc, milestones[point], ctx)
            try:
                _, err = proc.communicate(timeout=delay)
                killed = False
                assert proc.returncode == 0, err.decode(errors="replace")
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                killed = True
                killed_count += 1
        outcomes[check(ctx, killed)] += 1
    return {
        "trials": n,
        "seed": seed,
        "uninterrupted_run_s": round(full, 2),
        "phase_s": {f"{m}->{nxt}": round(length[m], 3) for m, nxt in phases.items()},
        "kill_phase": dict(sorted(points.items())),
        "killed": killed_count,
        "completed": n - killed_count,
        "outcomes": dict(sorted(outcomes.items())),
    }


# ------------------------------------------------------------------ shared checks


def cli(home: Path, *args: str):
    from click.testing import CliRunner

    from ddr.cli import main

    return CliRunner().invoke(main, ["--home", str(home), *args])


def verified(home: Path):
    """Open the registry after a kill and assert every referenced file is there and intact."""
    from ddr.registry import Registry
    from ddr.registry.maintenance import verify

    reg = Registry(home)
    report = verify(reg)
    assert report.ok, report.problems
    result = cli(home, "verify")
    assert result.exit_code == 0, result.output
    return reg


def _db_written(home: Path) -> bool:
    """The first transaction reached the SQLite WAL (the template home was closed with an empty one)."""
    wal = home / "registry.db-wal"
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


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
def crash_env(tmp_path_factory, tiny_path):  # noqa: F811
    """A template registry home and a tiny collection, shared by all trials of one command."""
    from test_training import make_domain

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
def test_kill_add_domain(crash_env, tiny_path):  # noqa: F811
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
def test_kill_index_build(crash_env, tiny_path):  # noqa: F811
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


# ------------------------------------------------------------------ Hub push and pull
#
# The Hub is tests/hub_server.py, served from this test process; the killed CLI talks to it over HTTP,
# so what the server holds after a kill is exactly what a client SIGKILLed at that point left behind.


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
        from test_hub import hub_env

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
def test_kill_push(source_home, hub_crash_root):  # noqa: F811
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
def test_kill_pull(source_home, hub_crash_root):  # noqa: F811
    """SIGKILL ``pull`` into an empty registry: ``verify`` passes, the registry holds nothing or all of
    the pull (one transaction), and re-running the pull gives what an uninterrupted pull gives."""
    from hub_server import HubState, serve
    from test_hub import PUSHED, registry_state

    from ddr.registry import Registry

    root = hub_crash_root / "pull"
    root.mkdir()
    empty = root / "empty-home"
    Registry.init(empty).close()
    server = serve(HubState(lfs_patterns=("*.safetensors",)))
    expected = registry_state(source_home, PUSHED)
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


# ------------------------------------------------------------------ the helper itself (fast)


def test_crash_trials_helper(tmp_path):
    """crash_trials kills a process still running after its delay, waits for milestones, and
    counts what check says."""

    def setup(i: int) -> Path:
        return tmp_path / f"out{i}"

    def check(target: Path, killed: bool) -> str:
        if not killed:
            assert target.read_text() == "done"
        return "completed" if not killed else ("killed after the write" if target.exists() else "killed before the write")

    code = (
        "import sys, time; time.sleep(0.2); open(sys.argv[1] + '.started', 'w').close(); "
        "time.sleep(0.3); open(sys.argv[1], 'w').write('done')"
    )
    started = {"started": lambda t: t.with_name(t.name + ".started").exists()}
    figures = crash_trials(lambda t: [sys.executable, "-c", code, str(t)], setup, check, n=6, seed=1, milestones=started)
    assert figures["killed"] + figures["completed"] == 6 == sum(figures["outcomes"].values())
    assert set(figures["kill_phase"]) <= {"launch->started", "started->end"} and sum(figures["kill_phase"].values()) == 6
    assert figures["phase_s"]["launch->started"] >= 0.2 and figures["phase_s"]["started->end"] >= 0.3
    assert figures["killed"] >= 1
