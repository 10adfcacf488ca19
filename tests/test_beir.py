"""BEIR loader edge cases and metrics computed by hand."""

from __future__ import annotations

import pytest
from beirdata import write_collection

from ddr.errors import DataError
from ddr.retrieval.beir import collection_dirs, corpus_fingerprint, load_collection
from ddr.retrieval.metrics import evaluate


@pytest.mark.parametrize("crlf, gz", [(False, False), (True, False), (False, True), (True, True)])
def test_loads_lf_crlf_gz(tmp_path, crlf, gz):
    coll = load_collection(write_collection(tmp_path / "c", crlf=crlf, gz=gz))
    assert list(coll.corpus) == ["d1", "d2", "d3"]
    assert coll.queries == {"q1": "wing lift", "q2": "vitamin"}
    assert coll.qrels == {"q1": {"d1": 1}, "q2": {"d3": 2}}
    assert coll.passage_texts()[1][1] == "boundary layer"


def test_fingerprint_tracks_content(tmp_path):
    a = load_collection(write_collection(tmp_path / "a"))
    b = load_collection(write_collection(tmp_path / "b", crlf=True, gz=True))
    assert corpus_fingerprint(a.corpus) == corpus_fingerprint(b.corpus)
    b.corpus["d2"]["text"] += "!"
    assert corpus_fingerprint(a.corpus) != corpus_fingerprint(b.corpus)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"corpus_lines": ['{"_id": "d1", "text": "x"}', "{oops"]}, "corpus.jsonl:2: malformed JSON"),
        ({"corpus_lines": ['{"_id": "d1", "text": "x"}', '{"_id": "d1", "text": "y"}']}, "corpus.jsonl:2: duplicate document id 'd1'"),
        ({"qrels_rows": ["q1\td9\t1"]}, "test.tsv:2: document id 'd9' is not in the corpus"),
        ({"qrels_rows": ["q1\td1\t1", "q7\td1\t1"]}, "test.tsv:3: query id 'q7' is not in the queries file"),
        ({"qrels_rows": ["q1\td1"]}, "test.tsv:2: expected 3 tab-separated columns"),
        ({"qrels_rows": ["q1\td1\thigh"]}, "test.tsv:2: relevance 'high' is not an integer"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, kwargs, message):
    root = write_collection(tmp_path / "c", **kwargs)
    with pytest.raises(DataError) as err:
        load_collection(root)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_non_utf8_named(tmp_path):
    root = write_collection(tmp_path / "c")
    (root / "queries.jsonl").write_bytes(b'{"_id": "q1", "text": "ok"}\n{"_id": "q2", "text": "caf\xe9"}\n')
    with pytest.raises(DataError, match="queries.jsonl:2: not UTF-8"):
        load_collection(root)


def test_missing_dir_and_empty_corpus(tmp_path):
    with pytest.raises(DataError, match="no such data directory"):
        load_collection(tmp_path / "missing")
    root = write_collection(tmp_path / "c")
    (root / "corpus.jsonl").write_text("")
    with pytest.raises(DataError, match="corpus is empty"):
        load_collection(root)


def test_collection_dirs(tmp_path):
    write_collection(tmp_path / "b")
    write_collection(tmp_path / "a")
    (tmp_path / "notes").mkdir()
    assert [p.name for p in collection_dirs(tmp_path)] == ["a", "b"]
    assert collection_dirs(tmp_path / "a") == [tmp_path / "a"]


def test_metrics_by_hand():
    qrels = {"q1": {"d1": 1}, "q2": {"d3": 2, "d2": 1}}
    run = {"q1": {"d2": 0.9, "d1": 0.8}, "q2": {"d3": 0.7, "d2": 0.6}}
    m = evaluate(qrels, run)
    # q1: relevant at rank 2 -> nDCG = (1/log2(3)) / 1 ; q2: ideal ranking -> 1.0
    import math

    assert m["nDCG@10"] == pytest.approx(((1 / math.log2(3)) + 1.0) / 2)
    assert m["RR@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["R@100"] == pytest.approx(1.0)
    # A judged query the run misses counts as zero, not as absent.
    half = evaluate(qrels, {"q2": run["q2"]})
    assert half["nDCG@10"] == pytest.approx(0.5)
