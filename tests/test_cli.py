"""CLI contract: --version, --help on every command, no torch on the help path, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ddr import __version__
from ddr.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert __version__ in result.output


@pytest.mark.parametrize("command", [[]] + [[name] for name in main.commands])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from ddr.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"


def test_bad_data_dir_is_one_line_exit_1(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--data", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "no such data directory" in result.output


def test_unknown_option_is_usage_exit_2():
    result = CliRunner().invoke(main, ["demo", "--bogus"])
    assert result.exit_code == 2
