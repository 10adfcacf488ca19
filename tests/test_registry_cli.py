"""Every registry command's exit codes: 0 ok, 1 one-line user error, 2 usage."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from registry_helpers import BACKBONE, artifact

from ddr.cli.app import main
from ddr.registry import Registry, RouterSpec
from ddr.registry.db import HEAD_REVISION


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    reg = Registry.init(h)
    reg.register_module("domain", "scifact", artifact(tmp_path / "d1", b"d1"), {"k": 1}, BACKBONE, description="claims")
    reg.register_module("domain", "scifact", artifact(tmp_path / "d2", b"d2"), {"k": 2}, BACKBONE, parent=1)
    for i in (1, 2):
        reg.register_router(RouterSpec({}, BACKBONE, (("scifact", i),)), artifact(tmp_path / f"r{i}", f"r{i}".encode()))
    reg.close()
    return h


def run(home, *args):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def one_line_error(result) -> bool:
    return result.exit_code == 1 and result.output.startswith("Error: ") and result.output.strip().count("\n") == 0


def test_init_and_empty_list(tmp_path):
    result = run(tmp_path / "new", "init")
    assert result.exit_code == 0, result.output
    result = run(tmp_path / "new", "list")
    assert result.exit_code == 0 and "registry is empty" in result.output


def test_list_without_registry_says_init(tmp_path):
    result = run(tmp_path / "none", "list")
    assert one_line_error(result) and "init" in result.output


def test_list_and_show(home):
    result = run(home, "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [m["ref"] for m in data["modules"]] == ["domain/scifact@1", "domain/scifact@2"]
    assert [r["ref"] for r in data["routers"]] == ["router@1", "router@2"]
    result = run(home, "show", "domain/scifact@1", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["description"] == "claims"
    result = run(home, "show", "router@2")
    assert result.exit_code == 0 and "scifact" in result.output
    assert one_line_error(run(home, "show", "domain/nope"))
    assert one_line_error(run(home, "show", "bogus@1"))


def test_alias_rollback_history(home):
    assert run(home, "alias", "set", "router@1", "production").exit_code == 0
    result = run(home, "alias", "set", "router@2", "production", "--reason", "ship")
    assert result.exit_code == 0 and "1 -> 2" in result.output
    result = run(home, "rollback", "router", "--reason", "bad")
    assert result.exit_code == 0 and "2 -> 1" in result.output
    assert one_line_error(run(home, "rollback", "router", "--to", "1"))  # already there
    assert one_line_error(run(home, "rollback", "router", "--to", "9"))
    result = run(home, "history", "--json", "--target", "router@production")
    assert [e["action"] for e in json.loads(result.output)] == ["rollback", "alias.set", "alias.set"]
    assert run(home, "alias", "rm", "router", "production").exit_code == 0
    assert one_line_error(run(home, "alias", "rm", "router", "production"))
    assert run(home, "alias", "set").exit_code == 2


def test_verify_exit_codes(home):
    result = run(home, "verify")
    assert result.exit_code == 0 and "0 problems" in result.output
    reg = Registry(home)
    blob = reg.blobs.path(reg.module_version("domain/scifact@1").files[0].sha256)
    reg.close()
    blob.unlink()
    result = run(home, "verify")
    assert result.exit_code == 1 and "missing" in result.output


def test_gc_and_db(home):
    result = run(home, "gc", "--dry-run")
    assert result.exit_code == 0 and "0 files" in result.output
    result = run(home, "db", "current")
    assert result.exit_code == 0 and f"database: {HEAD_REVISION}" in result.output
    assert run(home, "db", "upgrade").exit_code == 0
    assert run(home, "db", "bogus").exit_code == 2


def test_list_does_not_import_torch(home):
    code = (
        "import sys\nfrom ddr.cli.app import main\n"
        f"try:\n main(['--home', {str(home)!r}, 'list'])\nexcept SystemExit as e:\n assert e.code in (0, None), e.code\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
