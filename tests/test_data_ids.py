"""Ids that would break a TREC run file (fields separated by whitespace) are refused, naming file:line."""

from __future__ import annotations

import json

import pytest
from badinput import commands, fails_unchanged
from beirdata import make_domain, write_collection
from click.testing import CliRunner

from ddr.cli.app import main
from ddr.errors import DataError
from ddr.retrieval.beir import load_collection, read_queries
from ddr.retrieval.index import write_trec

BAD_IDS = {"space": "d 1", "tab": "d\t1", "newline": "d\n1", "nbsp": "d\u00a01", "line-separator": "d\u20281", "empty": ""}


def _doc_lines(bad: str) -> list[str]:
    return [json.dumps({"_id": "d1", "text": "x"}), json.dumps({"_id": bad, "text": "y"}), json.dumps({"_id": "d3", "text": "z"})]


@pytest.mark.parametrize("kind", list(BAD_IDS))
def test_corpus_id_with_whitespace_refused(tmp_path, kind):
    bad = BAD_IDS[kind]
    root = write_collection(tmp_path / "c", corpus_lines=_doc_lines(bad))
    with pytest.raises(DataError) as err:
        load_collection(root)
    message = str(err.value)
    assert "corpus.jsonl:2: document id" in message and repr(bad) in message
    assert ("is empty" if kind == "empty" else "contains whitespace") in message
    assert "\n" not in message


@pytest.mark.parametrize("kind", list(BAD_IDS))
def test_query_id_with_whitespace_refused(tmp_path, kind):
    bad = BAD_IDS[kind]
    root = write_collection(tmp_path / "c")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "a"}) + "\n" + json.dumps({"_id": bad, "text": "b"}) + "\n")
    with pytest.raises(DataError, match=r"queries.jsonl:2: query id .* (contains whitespace|is empty)") as err:
        load_collection(root)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="queries.jsonl:2: query id"):
        read_queries(root / "queries.jsonl")  # what `search --queries` reads


@pytest.mark.parametrize(
    "row, message",
    [
        ("q1 \td1\t1", "test.tsv:3: query id 'q1 ' contains whitespace"),
        ("q1\td 1\t1", "test.tsv:3: document id 'd 1' contains whitespace"),
        ("q1\td1\u00a0\t1", "test.tsv:3: document id 'd1\\xa0' contains whitespace"),
        ("\td1\t1", "test.tsv:3: query id '' is empty"),
        ("q1\t\t1", "test.tsv:3: document id '' is empty"),
    ],
)
def test_qrels_id_with_whitespace_refused(tmp_path, row, message):
    root = write_collection(tmp_path / "c", qrels_rows=["q2\td3\t1", row])
    for strict in (True, False):
        with pytest.raises(DataError) as err:
            load_collection(root, strict=strict)
        assert message in str(err.value)


def test_integer_ids_still_load_as_strings(tmp_path):
    docs = [json.dumps({"_id": 7, "title": "", "text": "seven"}), json.dumps({"_id": "d2", "text": "two"})]
    root = write_collection(tmp_path / "c", corpus_lines=docs, qrels_rows=["1\t7\t1"])
    (root / "queries.jsonl").write_text(json.dumps({"_id": 1, "text": "number seven"}) + "\n")
    coll = load_collection(root)
    assert list(coll.corpus) == ["7", "d2"] and coll.queries == {"1": "number seven"} and coll.qrels == {"1": {"7": 1}}


@pytest.mark.parametrize(
    "run, tag, fragment",
    [
        ({"q 1": {"d1": 0.5}}, "x", "query id 'q 1' contains whitespace"),
        ({"q1": {"d1": 0.9, "d\t2": 0.5}}, "x", "document id (query 'q1') 'd\\t2' contains whitespace"),
        ({"q1": {"d\n2": 0.5}}, "x", "document id (query 'q1') 'd\\n2' contains whitespace"),
        ({"": {"d1": 0.5}}, "x", "query id '' is empty"),
        ({"q1": {"d1": 0.5}}, "my tag", "run tag 'my tag' contains whitespace"),
    ],
)
def test_write_trec_refuses_broken_lines(tmp_path, run, tag, fragment):
    path = tmp_path / "run.trec"
    with pytest.raises(DataError) as err:
        write_trec(run, path, tag=tag)
    assert str(err.value) == f"cannot write a TREC run: {fragment}"
    assert not path.exists(), "nothing is written"
    write_trec({"q1": {"d1": 0.9}}, path, tag="x")
    assert [len(line.split()) for line in path.read_text().splitlines()] == [6]


def test_cli_batch_search_refuses_query_id_with_whitespace(tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "q1", "text": "a"}) + "\n" + json.dumps({"_id": "q\t2", "text": "b"}) + "\n")
    out = tmp_path / "run.trec"
    result = CliRunner().invoke(main, ["--home", str(tmp_path / "h"), "search", "--queries", str(queries), "--run-out", str(out)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [f"Error: {queries}:2: query id 'q\\t2' contains whitespace (ids may not hold spaces, tabs or newlines)"]
    assert not out.exists()


def _replace_corpus_line(folder, number, text):
    lines = (folder / "corpus.jsonl").read_text().splitlines()
    lines[number - 1] = text
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")


def _append_qrels(folder, row):
    for split in ("train", "test"):
        path = folder / "qrels" / f"{split}.tsv"
        path.write_text(path.read_text() + row + "\n")


# Through the real CLI: exit 1, one line naming file:line, registry home unchanged (tests/badinput.py).
CLI_CASES = [
    ("document-id", lambda f: _replace_corpus_line(f, 5, json.dumps({"_id": "alpha 4", "text": "w1"})), "corpus.jsonl:5: document id 'alpha 4' contains whitespace", ("evaluate", "index-build", "add-domain")),
    ("query-id", lambda f: (f / "queries.jsonl").write_text((f / "queries.jsonl").read_text() + json.dumps({"_id": "q\t9", "text": "w1"}) + "\n"), "queries.jsonl:21: query id 'q\\t9' contains whitespace", ("evaluate", "add-domain")),
    ("qrels-id", lambda f: _append_qrels(f, "alphaq1\talpha\u00a01\t1"), "document id 'alpha\\xa01' contains whitespace", ("evaluate", "add-domain")),
]


@pytest.mark.parametrize("breaker, fragment, command", [pytest.param(b, fr, c, id=f"{n}-{c}") for n, b, fr, cs in CLI_CASES for c in cs])
def test_cli_refuses_ids_with_whitespace(tmp_path, home, tiny_path, breaker, fragment, command):
    folder = make_domain(tmp_path / "data", "alpha", 0)
    breaker(folder)
    fails_unchanged(home, commands(tiny_path, folder)[command], fragment)
