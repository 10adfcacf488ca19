"""The docs that are generated stay current, and every command and option explains itself."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from ddr.cli.app import main
from ddr.cli.reference import commands, render

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = commands(main)


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == render(main), "run: python -m ddr.cli.reference > docs/cli.md"


@pytest.mark.parametrize("path, command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_and_option_has_help(path, command):
    assert command.help, f"{path} has no help"
    missing = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert missing == [], f"{path}: options without help: {missing}"


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[ci.index("# --- the README's test command, verbatim ---") + 1]
    assert command in (ROOT / "README.md").read_text()
