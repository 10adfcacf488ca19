"""Bad-input checks through the real CLI (docs/reliability.md has the table), shared by test_bad_*.py.

Every case asserts: exit code 1, exactly one output line ``Error: ...`` naming the problem and the
file:line or the registry object, no traceback (the exception that ended the command is click's
SystemExit), and the registry home byte-identical before and after: every file under it, the
SQLite database included, is hashed. SQLite's ``-shm`` index is left out, and a ``-wal`` file is
left out only while it is empty (an empty WAL means no transaction was written).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ddr.cli.app import main


def snapshot(home: Path) -> dict[str, str]:
    """sha256 of every file under ``home`` (see the module docstring for the two SQLite exceptions)."""
    out = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path.name.endswith("-shm") or (path.name.endswith("-wal") and path.stat().st_size == 0):
            continue
        out[path.relative_to(home).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    dirs = sorted(p.relative_to(home).as_posix() + "/" for p in home.rglob("*") if p.is_dir())
    return {**out, **dict.fromkeys(dirs, "dir")}


def invoke(home: Path, args: list[str]):
    return CliRunner().invoke(main, ["--home", str(home), *args])


def assert_one_line_error(result, *fragments: str) -> str:
    """Exit 1 through the CLI's own error path, one line naming the problem."""
    if not isinstance(result.exception, SystemExit):  # an uncaught exception: show its traceback
        import traceback

        pytest.fail("".join(traceback.format_exception(result.exception)) + result.output)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert len(lines[0]) < 600, "the message must not echo the input"
    return lines[0]


def fails_unchanged(home: Path, args: list[str], *fragments: str) -> str:
    before = snapshot(home)
    message = assert_one_line_error(invoke(home, args), *fragments)
    assert snapshot(home) == before, "the failed command changed the registry home"
    return message


def commands(tiny: str, data: Path) -> dict[str, list[str]]:
    return {
        "evaluate": ["evaluate", "--data", str(data), "--backbone", tiny, "--baselines", "plain", "--quiet"],
        "evaluate-strict": ["evaluate", "--data", str(data), "--backbone", tiny, "--baselines", "plain", "--quiet", "--strict"],
        "index-build": ["index", "build", "--data", str(data), "--backbone", tiny, "--quiet"],
        "add-domain": ["add-domain", "alpha", "--data", str(data), "--backbone", tiny, "--epochs", "1", "--prefix-length", "4", "--quiet", "--force"],
    }
