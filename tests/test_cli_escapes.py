"""Text the CLI did not write (a pulled description or created_by, a path in an error) cannot drive the terminal."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from registry_helpers import BACKBONE, artifact

from ddr.cli.app import main
from ddr.cli.output import clean
from ddr.registry import Registry

# Clear the screen, home the cursor, forge a line, turn the rest red, reverse it, hide it.
HOSTILE = "ok\x1b[2J\x1b[H\nFORGED line\r\x1b[31mred\u202ereversed\u2028\x9b2J\x7f\u2066end"  # no NUL: environment variables cannot hold one
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


@pytest.mark.parametrize(
    "text, shown",
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("a\nb\r\tc", "a\\nb\\r\\tc"),
        ("\x00\x7f\x85\x9b", "\\x00\\x7f\\x85\\x9b"),
        ("\u202ecba\u202c \u2066x\u2069 \u2028\u2029 \u200f", "\\u202ecba\\u202c \\u2066x\\u2069 \\u2028\\u2029 \\u200f"),
        ("café, 日本, emoji 🙂, C:\\path", "café, 日本, emoji 🙂, C:\\path"),
    ],
)
def test_clean_shows_control_characters_as_escapes(text, shown):
    assert clean(text) == shown


@pytest.fixture
def hostile_home(tmp_path, monkeypatch):
    monkeypatch.setenv("DDR_ACTOR", HOSTILE)
    home = tmp_path / "home"
    reg = Registry.init(home)
    reg.register_module("domain", "scifact", artifact(tmp_path / "d1", b"d1"), {"k": 1}, BACKBONE, description=HOSTILE)
    reg.close()
    from ddr.registry.aliases import set_alias

    reg = Registry(home)
    set_alias(reg, "domain/scifact@1", "production", reason=HOSTILE)
    reg.close()
    return home


def _run(home, *args):
    result = CliRunner().invoke(main, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _assert_safe(output: str, expected_lines: int) -> None:
    assert not RAW.search(output), repr(output)
    lines = output.splitlines()
    assert len(lines) == expected_lines, lines
    assert not any(line.startswith("FORGED") for line in lines)


def test_list_shows_created_by_escaped(hostile_home):
    output = _run(hostile_home, "list")
    _assert_safe(output, 1)
    assert "ok\\x1b[2J\\x1b[H\\nFORGED line\\r\\x1b[31mred\\u202ereversed" in output


def test_show_shows_description_and_created_by_escaped(hostile_home):
    output = _run(hostile_home, "show", "domain/scifact@1")
    fields = [line.split()[0] for line in output.splitlines()]
    _assert_safe(output, len(fields))
    assert fields.count("description") == 1 and fields.count("created_by") == 1
    assert sum(line.startswith("description ") and clean(HOSTILE) in line for line in output.splitlines()) == 1


def test_history_shows_actor_and_reason_escaped(hostile_home):
    output = _run(hostile_home, "history")
    _assert_safe(output, 2)  # the registration and the alias move, one line each
    assert output.count(clean(HOSTILE)) == 3  # two actors and one reason


def test_json_output_is_escaped_by_json(hostile_home):
    """json.dumps escapes every control character (ensure_ascii), and the value round-trips exactly."""
    listed = _run(hostile_home, "list", "--json")
    shown = _run(hostile_home, "show", "domain/scifact@1", "--json")
    logged = _run(hostile_home, "history", "--json")
    for output in (listed, shown, logged):
        assert not RAW.search(output)
    assert json.loads(listed)["modules"][0]["created_by"] == HOSTILE
    assert json.loads(shown)["description"] == HOSTILE
    assert {e["actor"] for e in json.loads(logged)} == {HOSTILE}


def test_error_message_shown_escaped(tmp_path):
    data = str(tmp_path / ("no\x1b[2J\nFORGED " + "\u202e"))
    Registry.init(tmp_path / "h").close()
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "index", "build", "--data", data])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    _assert_safe(result.output, 1)
    assert result.output.startswith("Error: ") and "no\\x1b[2J\\nFORGED \\u202e: no such data directory" in result.output


def test_evaluate_table_escapes_a_hostile_collection_name(tmp_path, tiny_path):
    from beirdata import write_collection

    name = "c\x1b[2J\u2028FORGED\x85x"
    root = write_collection(tmp_path / "data" / name, qrels_rows=["q1\td1\t1", "q2\tgone\t1"])
    Registry.init(tmp_path / "h").close()
    result = CliRunner().invoke(
        main, ["--home", str(tmp_path / "h"), "evaluate", "--data", str(root.parent), "--backbone", tiny_path, "--baselines", "bm25", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    table = [line for line in result.output.split("\n") if not line.startswith("WARNING")]  # the loader's logged warning, where captured
    assert not RAW.search("\n".join(table)), repr(result.output)
    assert not any(line.startswith("FORGED") for line in table)
    assert sum("c\\x1b[2J\\u2028FORGED\\x85x: 1 judgement(s)" in line for line in table) == 1
