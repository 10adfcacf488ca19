"""Crash safety with artifacts in object storage: SIGKILL a real ``ddr-registry index build`` that
uploads to an S3 API server (moto's, a real process) at seeded random points, then check.

After every kill: ``verify`` passes (no row names an object the bucket lacks), what is visible is
whole, re-running succeeds, and gc then leaves exactly the referenced objects. Each trial writes
under its own prefix of one bucket, so no trial's objects can stand in for another's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from beirdata import make_domain
from crashtools import CLI, TRIALS, _db_written, cli, crash_trials, record, verified


@pytest.mark.slow
def test_kill_index_build_uploading_to_s3(tmp_path, s3, tiny_path, monkeypatch):
    from ddr.registry import Registry
    from ddr.registry.maintenance import gc

    bucket = s3.new_bucket()
    template = tmp_path / "template-home"
    Registry.init(template).close()
    data = make_domain(tmp_path, "alpha", 0)
    args = ["index", "build", "--data", str(data), "--backbone", tiny_path, "--quiet"]

    def prefix(home: Path) -> str:
        return f"trials/{home.name}"

    def objects(home: Path) -> list[str]:
        return [k for k in s3.keys(bucket) if k.startswith(prefix(home) + "/")]

    def setup(i: int) -> Path:
        home = tmp_path / (f"trial-{i + 1:02d}" if i >= 0 else f"timing{-i}")
        shutil.copytree(template, home)
        return home

    def env(home: Path) -> dict[str, str]:
        return {**os.environ, "DDR_ARTIFACTS": f"s3://{bucket}/{prefix(home)}"}

    def check(home: Path, killed: bool) -> str:
        monkeypatch.setenv("DDR_ARTIFACTS", f"s3://{bucket}/{prefix(home)}")
        reg = verified(home)  # every row's object is in the bucket with its sha256
        records = reg.index_records()
        assert len(records) <= 1
        if not killed:
            label = "completed"
            assert len(records) == 1
        elif records:
            label = "killed after the commit (work complete)"
        elif objects(home):
            label = "killed while uploading or before the commit (objects without rows; gc removes them)"
        else:
            label = "killed before any upload"
        reg.close()
        again = cli(home, *args)
        assert again.exit_code == 0, again.output
        reg = verified(home)
        assert [r.version for r in reg.index_records()] == list(range(1, len(records) + 2))
        gc(reg, stale_after=-1)
        wanted = {f"{prefix(home)}/blobs/{f.sha256[:2]}/{f.sha256}" for r in reg.index_records() for f in r.files}
        assert set(objects(home)) == wanted  # the rows and the bucket agree exactly
        assert verified(home)
        reg.close()
        return label

    figures = crash_trials(
        cmd=lambda home: [*CLI, "--home", str(home), *args],
        setup=setup,
        check=check,
        n=TRIALS,
        seed=16,
        milestones={"cache": lambda home: (home / "cache").exists(), "object": lambda home: bool(objects(home)), "db": _db_written},
        env=env,
    )
    record("crash_index_build_s3", figures)
    assert sum(figures["outcomes"].values()) == TRIALS
