"""A plain (non-editable) build ships every namespace package, migrations included."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_all_packages(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("ddr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "ddr/cli/app.py",
        "ddr/service/domain.py",
        "ddr/server/app.py",
        "ddr/modules/config.py",
        "ddr/modules/encoder.py",
        "ddr/registry/store.py",
        "ddr/trainer/router.py",
        "ddr/retrieval/beir.py",
        "ddr/hub/pull.py",
        "ddr/migrations/env.py",
        "ddr/migrations/versions/0001_initial.py",
        "ddr/migrations/versions/0003_module_version_facts.py",
        "ddr/migrations/versions/0004_artifact_store.py",
        "ddr/registry/s3store.py",
    ):
        assert required in names, f"{required} missing from the wheel"
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)
