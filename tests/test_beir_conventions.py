"""BEIR's two ArguAna conventions, reproduced on tiny collections (the published ArguAna is not here).

1. qrels rows naming documents that are not in the corpus (5 of ArguAna's 1,406) are relevant
   documents no system can retrieve: loaded with one warning, scored that way, refused by --strict.
2. A query that is itself a document (same id and same text: 1,298 ArguAna queries) does not
   retrieve itself; collections that number queries and documents independently keep everything.
"""

from __future__ import annotations

import json
import logging
import math

import pytest
from beirdata import write_collection
from click.testing import CliRunner
from helpers import CountingEncoder

from ddr.cli.app import main
from ddr.errors import DataError
from ddr.retrieval.beir import load_collection
from ddr.retrieval.metrics import evaluate as score
from ddr.service.evaluation import drop_self_hits, evaluate

ENC = CountingEncoder(["alpha", "beta", "gamma", "delta"])
SYSTEMS = ("BM25", "BM25 (no stem)", "plain")
NO_MODULES = "DDR (= plain: no modules)"  # shown only without the plain baseline, which it would repeat


def _write(root, docs, queries, rows):
    root = write_collection(root, corpus_lines=[json.dumps(d) for d in docs], qrels_rows=rows)
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    return root


# ---------------------------------------------------------------- judgements of unknown documents


@pytest.fixture
def missing_docs(tmp_path):
    docs = [{"_id": "d1", "title": "", "text": "alpha"}, {"_id": "d2", "title": "", "text": "beta"}]
    return _write(tmp_path / "gone", docs, [{"_id": "q1", "text": "alpha"}, {"_id": "q2", "text": "beta"}],
                  ["q1\td1\t1", "q1\tlost-1\t1", "q2\td2\t1", "q2\tlost-2\t2"])


def test_missing_documents_kept_with_one_warning(missing_docs, caplog):
    with pytest.raises(DataError, match=r"test.tsv:3: document id 'lost-1' is not in the corpus"):
        load_collection(missing_docs)  # the default (training keeps it) refuses, as before
    with caplog.at_level(logging.WARNING, logger="ddr.retrieval.beir"):
        coll = load_collection(missing_docs, strict=False)
    assert coll.missing_documents == [("q1", "lost-1"), ("q2", "lost-2")]
    assert coll.qrels == {"q1": {"d1": 1, "lost-1": 1}, "q2": {"d2": 1, "lost-2": 2}}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "2 judgement(s) name documents not in the corpus ('lost-1', 'lost-2')" in warnings[0]


def test_unknown_query_still_refused(missing_docs):
    (missing_docs / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nghost\td1\t1\n")
    with pytest.raises(DataError, match=r"test.tsv:3: query id 'ghost' is not in the queries file"):
        load_collection(missing_docs, strict=False)


def test_unretrievable_relevant_documents_lower_the_score_by_hand():
    # trec_eval's nDCG (what BEIR uses): gain = grade, discount log2(rank + 1).
    # q1: d1 (grade 1) at rank 1, lost-1 (grade 1) never retrieved: DCG 1, ideal 1 + 1/log2(3).
    # q2: d2 (grade 1) at rank 1, lost-2 (grade 2) never retrieved: DCG 1, ideal 2 + 1/log2(3).
    m = score({"q1": {"d1": 1, "lost-1": 1}, "q2": {"d2": 1, "lost-2": 2}}, {"q1": {"d1": 1.0}, "q2": {"d2": 1.0}})
    assert m["nDCG@10"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1 / (2 + 1 / math.log2(3))) / 2)
    assert m["R@100"] == pytest.approx(0.5) and m["RR@10"] == pytest.approx(1.0)


def test_evaluate_scores_missing_documents_as_unretrievable(reg, missing_docs):
    result = evaluate(reg, str(missing_docs), baselines=["bm25", "plain"], encoders=(ENC, ENC), progress=False)
    coll = result["collections"]["gone"]
    expected = (1 / (1 + 1 / math.log2(3)) + 1 / (2 + 1 / math.log2(3))) / 2
    for system in ("BM25", "plain"):
        assert coll["systems"][system]["nDCG@10"] == pytest.approx(expected), system
        assert coll["systems"][system]["R@100"] == pytest.approx(0.5), system
    assert coll["missing_documents"] == 2
    assert any("gone: 2 judgement(s) name documents not in the corpus" in n and "--strict" in n for n in result["notes"])
    with pytest.raises(DataError, match=r"test.tsv:3: document id 'lost-1' is not in the corpus"):
        evaluate(reg, str(missing_docs), baselines=["plain"], encoders=(ENC, ENC), progress=False, strict=True)


def test_cli_evaluate_strict_refuses_in_one_line(tmp_path, missing_docs, tiny_path):
    home = tmp_path / "home"
    base = ["--home", str(home), "evaluate", "--data", str(missing_docs), "--backbone", tiny_path, "--baselines", "bm25", "--quiet"]
    assert CliRunner().invoke(main, ["--home", str(home), "init"]).exit_code == 0
    result = CliRunner().invoke(main, [*base, "--strict"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "test.tsv:3: document id 'lost-1' is not in the corpus" in lines[0]
    result = CliRunner().invoke(main, [*base, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["collections"]["gone"]["missing_documents"] == 2


# ---------------------------------------------------------------- queries that are documents


def _arguana_like(root):
    """Each query is also a document: same id, same text (in ArguAna the document's text; title differs)."""
    docs = [
        {"_id": "a1", "title": "Debate one", "text": "alpha beta"},
        {"_id": "a2", "title": "Debate one", "text": "alpha  beta gamma"},  # the counter-argument q a1 should find
        {"_id": "a3", "title": "Debate two", "text": "gamma delta"},
        {"_id": "a4", "title": "", "text": "delta gamma gamma"},
    ]
    queries = [{"_id": "a1", "text": "alpha beta"}, {"_id": "a3", "text": " gamma\tdelta "}, {"_id": "a4", "text": "delta gamma gamma"}]
    return _write(root, docs, queries, ["a1\ta2\t1", "a3\ta4\t1", "a4\ta3\t1"])


def test_self_hits_dropped_for_every_system(reg, tmp_path):
    result = evaluate(reg, str(_arguana_like(tmp_path / "arg")), baselines=["bm25", "bm25-nostem", "plain"], encoders=(ENC, ENC), progress=False)
    coll = result["collections"]["arg"]
    for system in SYSTEMS:
        # Without the drop a query that finds itself first scores nDCG 1/log2(3) = 0.63; with it,
        # its judged document is first for every query.
        assert coll["systems"][system]["nDCG@10"] == pytest.approx(1.0), system
        assert coll["systems"][system]["RR@10"] == pytest.approx(1.0), system
    assert coll["systems"]["BM25 + plain"]["nDCG@10"] == pytest.approx(1.0)  # fused from runs that no longer hold the query itself
    assert coll["self_hits"]["queries"] == 3
    assert coll["self_hits"]["dropped"] == dict.fromkeys(SYSTEMS, 3)
    assert any("arg: 3 queries are documents of the corpus" in n for n in result["notes"])
    # without the plain baseline the DDR row is shown, and drops its self hits too
    coll = evaluate(reg, str(tmp_path / "arg"), baselines=["bm25"], encoders=(ENC, ENC), progress=False)["collections"]["arg"]
    for system in (NO_MODULES, f"BM25 + {NO_MODULES}"):
        assert coll["systems"][system]["nDCG@10"] == pytest.approx(1.0), system
    assert coll["self_hits"]["dropped"] == {"BM25": 3, NO_MODULES: 3}


def test_classic_numbering_keeps_every_document(reg, tmp_path):
    """Query "1" and document "1" are different things in the classic collections: nothing is dropped."""
    docs = [{"_id": "1", "title": "", "text": "alpha beta"}, {"_id": "2", "title": "", "text": "gamma"}, {"_id": "3", "title": "", "text": "delta"}]
    queries = [{"_id": "1", "text": "alpha"}, {"_id": "2", "text": "delta"}]
    root = _write(tmp_path / "classic", docs, queries, ["1\t1\t1", "2\t3\t1"])
    result = evaluate(reg, str(root), baselines=["bm25", "plain"], encoders=(ENC, ENC), progress=False)
    coll = result["collections"]["classic"]
    assert coll["self_hits"] == {"queries": 0, "dropped": {"BM25": 0, "plain": 0}}
    for system in ("BM25", "plain"):
        assert coll["systems"][system]["nDCG@10"] == pytest.approx(1.0), system  # q1 still finds document 1
    assert not any("documents of the corpus" in n for n in result["notes"])


def test_same_id_different_text_or_same_text_different_id_kept(reg, tmp_path):
    docs = [{"_id": "x1", "title": "", "text": "alpha beta"}, {"_id": "x2", "title": "", "text": "alpha"}]
    # x1: same id as a document but another text; y: same text as document x2 but another id.
    queries = [{"_id": "x1", "text": "alpha beta gamma"}, {"_id": "y", "text": "alpha"}]
    root = _write(tmp_path / "near", docs, queries, ["x1\tx1\t1", "y\tx2\t1"])
    coll = evaluate(reg, str(root), baselines=["plain"], encoders=(ENC, ENC), progress=False)["collections"]["near"]
    assert coll["self_hits"]["queries"] == 0 and coll["systems"]["plain"]["R@100"] == pytest.approx(1.0)


def test_title_plus_text_also_counts_as_the_same_text(reg, tmp_path):
    docs = [{"_id": "t1", "title": "alpha", "text": "beta"}, {"_id": "t2", "title": "", "text": "alpha beta gamma"}]
    root = _write(tmp_path / "titled", docs, [{"_id": "t1", "text": "alpha beta"}], ["t1\tt2\t1"])
    coll = evaluate(reg, str(root), baselines=["plain"], encoders=(ENC, ENC), progress=False)["collections"]["titled"]
    assert coll["self_hits"] == {"queries": 1, "dropped": {"plain": 1}}
    assert coll["systems"]["plain"]["nDCG@10"] == pytest.approx(1.0)


def test_drop_keeps_depth():
    run = {"q": {f"d{i}": float(200 - i) for i in range(101)} | {"q": 500.0}}
    out, dropped = drop_self_hits(run, {"q"}, k=100)
    assert dropped == 1 and "q" not in out["q"] and len(out["q"]) == 100 and next(iter(out["q"])) == "d0"
    out, dropped = drop_self_hits(run, set(), k=100)
    assert dropped == 0 and next(iter(out["q"])) == "q" and len(out["q"]) == 100
