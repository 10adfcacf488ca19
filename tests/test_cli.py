"""CLI contract: --version, --help on every command, no torch on the help path (bad input: test_bad_*.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ddr import __version__
from ddr.cli.app import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert __version__ in result.output


def all_commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        yield [*prefix, name]
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, (*prefix, name))


@pytest.mark.parametrize("command", [[]] + list(all_commands(main)), ids=lambda c: " ".join(c) or "main")
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from ddr.cli.app import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


def test_unknown_option_is_usage_exit_2():
    result = CliRunner().invoke(main, ["evaluate", "--bogus"])
    assert result.exit_code == 2


@pytest.mark.parametrize("module", ["ddr", "ddr.cli"])
def test_python_dash_m_runs_the_cli(module):
    """``python -m ddr`` and ``python -m ddr.cli`` print the full usage (every subcommand registered)."""
    result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Usage: ddr-registry [OPTIONS] COMMAND [ARGS]..."), result.stdout
    for command in ("push", "pull", "add-domain", "verify"):
        assert f"  {command} " in result.stdout, result.stdout
    assert "Traceback" not in result.stderr and "RuntimeWarning" not in result.stderr, result.stderr
