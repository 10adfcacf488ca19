"""The kill-trial helper itself (fast): :func:`crashtools.crash_trials`."""

from __future__ import annotations

import sys
from pathlib import Path

from crashtools import crash_trials


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
