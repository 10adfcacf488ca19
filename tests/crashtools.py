"""Crash-safety tools: SIGKILL a real ``ddr-registry`` process at seeded random points, then check.

:func:`crash_trials` is generic: each test plugs in its own ``cmd``/``setup``/``check`` (the add-domain
and index build trials in test_crash_local.py, the Hub push/pull trials in test_crash_hub.py). Outcomes
are counted by how far the killed run got, printed, and written by :func:`record` to
``$DDR_RELIABILITY_OUT`` (JSON) when set; docs/reliability.md quotes them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

TRIALS = int(os.environ.get("DDR_CRASH_TRIALS", "20"))
CLI = [sys.executable, "-c", "from ddr.cli.app import main; main()"]


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

    from ddr.cli.app import main

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
