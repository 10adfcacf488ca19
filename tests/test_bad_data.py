"""Bad data files: every case against the reader each command uses, and one case per command through the
real CLI (checks in ``badinput``: one line, home unchanged). tests/test_add_domain_io.py shows that
add-domain reads its data before it loads a model or fetches a file.

The accepted inputs (CRLF, LF/CRLF mixed within a file, a valid 10 MB document) must succeed instead.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from badinput import commands, fails_unchanged, invoke
from beirdata import make_domain

# The split each command reads its qrels from (index build reads the corpus only).
SPLIT = {"evaluate": "test", "evaluate-strict": "test", "add-domain": "train"}
ALL, WITH_QUERIES = ("evaluate", "index-build", "add-domain"), ("evaluate", "add-domain")


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = _lines(path)
    lines[number - 1] = text
    path.write_text("\n".join(lines) + "\n")


def _append_qrels(folder: Path, row: str) -> None:
    for split in ("train", "test"):
        path = folder / "qrels" / f"{split}.tsv"
        path.write_text(path.read_text() + row + "\n")


def _append_qrels_bytes(folder: Path, row: bytes) -> None:
    for split in ("train", "test"):
        path = folder / "qrels" / f"{split}.tsv"
        path.write_bytes(path.read_bytes() + row)


def _truncated_gzip(folder: Path) -> None:
    data = gzip.compress((folder / "corpus.jsonl").read_bytes())
    (folder / "corpus.jsonl").unlink()
    (folder / "corpus.jsonl.gz").write_bytes(data[: len(data) // 2])


def _ten_mb_line(folder: Path) -> None:
    # One 10 MB line, no newline, an unterminated string: must fail fast, without echoing it.
    (folder / "corpus.jsonl").write_text('{"_id": "big", "text": "' + "w1 " * (10 * 1024 * 1024 // 3))


# (case, how to break a good collection, what the one line must say ({split}: the qrels file read), commands)
DATA_CASES = [
    ("malformed-jsonl-corpus", lambda f: _replace_line(f / "corpus.jsonl", 3, '{"_id": "x", oops'), ["corpus.jsonl:3: malformed JSON"], ALL),
    ("malformed-jsonl-queries", lambda f: _replace_line(f / "queries.jsonl", 2, "[1, 2"), ["queries.jsonl:2: malformed JSON"], WITH_QUERIES),
    ("jsonl-not-an-object", lambda f: _replace_line(f / "corpus.jsonl", 4, '"just a string"'), ["corpus.jsonl:4: expected an object with an '_id'"], ALL),
    ("qrels-wrong-columns", lambda f: _append_qrels(f, "alphaq1 alpha1 1"), ["{split}.tsv:", "expected 3 tab-separated columns"], WITH_QUERIES),
    ("empty-corpus", lambda f: (f / "corpus.jsonl").write_text(""), ["corpus.jsonl: the corpus is empty"], ALL),
    ("blank-lines-only-corpus", lambda f: (f / "corpus.jsonl").write_bytes(b"\n\r\n  \n"), ["corpus.jsonl: the corpus is empty"], ALL),
    ("duplicate-document-id", lambda f: _replace_line(f / "corpus.jsonl", 5, json.dumps({"_id": "alpha0", "text": "w1"})), ["corpus.jsonl:5: duplicate document id 'alpha0'"], ALL),
    ("duplicate-query-id", lambda f: _replace_line(f / "queries.jsonl", 3, json.dumps({"_id": "alphaq0", "text": "w1"})), ["queries.jsonl:3: duplicate query id 'alphaq0'"], WITH_QUERIES),
    # evaluate scores such a judgement as unretrievable by default (BEIR's convention, tests/test_beir_conventions.py)
    ("qrels-unknown-document", lambda f: _append_qrels(f, "alphaq1\tnope\t1"), ["{split}.tsv:", "document id 'nope' is not in the corpus"], ("evaluate-strict", "add-domain")),
    ("qrels-unknown-query", lambda f: _append_qrels(f, "ghost\talpha1\t1"), ["{split}.tsv:", "query id 'ghost' is not in the queries file"], WITH_QUERIES),
    ("qrels-grade-not-integer", lambda f: _append_qrels(f, "alphaq1\talpha1\thigh"), ["{split}.tsv:", "relevance 'high' is not an integer"], WITH_QUERIES),
    ("non-utf8-corpus", lambda f: (f / "corpus.jsonl").write_bytes((f / "corpus.jsonl").read_bytes() + b'{"_id": "z", "text": "caf\xe9"}\n'), ["corpus.jsonl:21: not UTF-8"], ALL),
    ("non-utf8-qrels", lambda f: _append_qrels_bytes(f, b"alphaq1\talph\xff\t1\n"), ["{split}.tsv:", "not UTF-8"], WITH_QUERIES),
    ("truncated-gzip-corpus", _truncated_gzip, ["corpus.jsonl.gz: cannot read"], ALL),
    ("10MB-single-line", _ten_mb_line, ["corpus.jsonl:1: malformed JSON (Unterminated string starting at column 24)"], ALL),
    ("missing-qrels-split", lambda f: [(f / "qrels" / s).unlink() for s in ("train.tsv", "test.tsv")], ["{split}.tsv: no qrels for split"], WITH_QUERIES),
    ("data-directory-does-not-exist", lambda f: shutil.rmtree(f), ["alpha: no such data directory"], ALL),
]


def _reader(command: str, folder: Path):
    """What ``command`` reads its data with, before it loads a model or touches the registry."""
    from ddr.service.domain_data import read_folder
    from ddr.service.evaluation import read_collections
    from ddr.service.indexing import read_corpus

    return {
        "evaluate": lambda: read_collections(str(folder), "test", (), strict=False),
        "evaluate-strict": lambda: read_collections(str(folder), "test", (), strict=True),
        "index-build": lambda: read_corpus(str(folder)),
        "add-domain": lambda: read_folder("alpha", str(folder)),
    }[command]


@pytest.mark.parametrize(
    "case, breaker, fragments, command",
    [pytest.param(c, b, fr, cmd, id=f"{c}-{cmd}") for c, b, fr, cmds in DATA_CASES for cmd in cmds],
)
def test_readers_refuse_bad_data_in_one_line(tmp_path, case, breaker, fragments, command):
    """Every case against the reader each command uses (the commands read their data first: see below)."""
    from ddr.errors import DdrError

    folder = make_domain(tmp_path / "data", "alpha", 0)
    breaker(folder)
    with pytest.raises(DdrError) as info:
        _reader(command, folder)()
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    for fragment in fragments:
        assert fragment.format(split=SPLIT.get(command, "")) in message, (fragment, message)


# Through the real CLI, one case per command: exit 1, one ``Error:`` line, the home unchanged (badinput).
CLI_CASES = [
    ("evaluate", "malformed-jsonl-queries"),
    ("evaluate-strict", "qrels-unknown-document"),
    ("index-build", "truncated-gzip-corpus"),
    ("add-domain", "qrels-unknown-query"),
    ("add-domain", "data-directory-does-not-exist"),
]


@pytest.mark.parametrize("command, case", CLI_CASES, ids=[f"{c}-{k}" for c, k in CLI_CASES])
def test_commands_refuse_bad_data_in_one_line(tmp_path, home, tiny_path, command, case):
    _, breaker, fragments, _ = next(c for c in DATA_CASES if c[0] == case)
    folder = make_domain(tmp_path / "data", "alpha", 0)
    breaker(folder)
    fails_unchanged(home, commands(tiny_path, folder)[command], *(f.format(split=SPLIT.get(command, "")) for f in fragments))


def test_every_command_has_a_cli_case():
    assert {c for c, _ in CLI_CASES} == {cmd for *_, cmds in DATA_CASES for cmd in cmds}


def _to_crlf(folder: Path) -> None:
    for path in [folder / "corpus.jsonl", folder / "queries.jsonl", *(folder / "qrels").glob("*.tsv")]:
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _mixed_endings(folder: Path) -> None:
    """Every other line CRLF, within each file (scifact's real qrels are CRLF)."""
    for path in [folder / "corpus.jsonl", folder / "queries.jsonl", *(folder / "qrels").glob("*.tsv")]:
        lines = path.read_bytes().split(b"\n")[:-1]
        path.write_bytes(b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines)))


@pytest.mark.parametrize("endings", ["crlf", "mixed"])
@pytest.mark.parametrize("command", ALL)
def test_line_endings_accepted(tmp_path, home, tiny_path, endings, command):
    folder = make_domain(tmp_path / "data", "alpha", 0)
    reference = make_domain(tmp_path / "lf", "alpha", 0)
    (_to_crlf if endings == "crlf" else _mixed_endings)(folder)
    assert b"\r\n" in (folder / "qrels" / "train.tsv").read_bytes()
    result = invoke(home, commands(tiny_path, folder)[command])
    assert result.exit_code == 0, result.output
    if command == "evaluate":  # the same scores as the LF files
        ref = invoke(tmp_path / "ref-home", ["init"]), invoke(tmp_path / "ref-home", [*commands(tiny_path, reference)[command], "--json"])
        ours = invoke(home, [*commands(tiny_path, folder)[command], "--json"])
        assert json.loads(ours.output)["collections"]["alpha"]["systems"] == json.loads(ref[1].output)["collections"]["alpha"]["systems"]
    elif command == "index-build":
        assert "20 passages" in result.output
    else:
        assert "registered domain/alpha@1 and router@1" in result.output


@pytest.mark.slow
def test_ten_mb_document_accepted(tmp_path, home, tiny_path):
    """A valid 10 MB single-line document is read and truncated to the token limit, not refused."""
    folder = make_domain(tmp_path / "data", "alpha", 0)
    big = json.dumps({"_id": "big", "title": "", "text": " ".join(["w1 w2 w3"] * 1_300_000)})
    assert len(big) > 10 * 1024 * 1024
    (folder / "corpus.jsonl").write_text(big + "\n" + (folder / "corpus.jsonl").read_text())
    result = invoke(home, commands(tiny_path, folder)["index-build"])
    assert result.exit_code == 0, result.output
    assert "21 passages" in result.output
