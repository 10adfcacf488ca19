"""Hybrid retrieval: fusion rules by hand, the BM25 side of every index, hybrid search and evaluation."""

from __future__ import annotations

import json

import pytest
from beirdata import make_domain
from click.testing import CliRunner

from ddr.retrieval.fusion import convex, fit_weight, rrf


def test_convex_fusion_by_hand():
    dense = {"q": {"a": 0.9, "b": 0.5, "c": 0.1}}
    lexical = {"q": {"b": 12.0, "d": 4.0}}
    fused = convex(dense, lexical, 0.25)["q"]
    # min-max per side: dense a 1, b 0.5, c 0; lexical b 1, d 0; a document one side misses gets 0 there
    assert fused == pytest.approx({"a": 0.75, "b": 0.75 * 0.5 + 0.25, "c": 0.0, "d": 0.0})
    assert list(convex(dense, lexical, 0.25, k=2)["q"]) == ["a", "b"]
    assert list(convex(dense, lexical, 0.5, k=2)["q"]) == ["b", "a"]  # b 0.75 (both sides), a 0.5 (dense only)
    assert convex(dense, lexical, {"q": 1.0})["q"]["b"] == 1.0  # per-query weights; 1.0 is BM25 alone
    with pytest.raises(ValueError):
        convex(dense, lexical, 1.5)


def test_rrf_by_hand():
    fused = rrf({"q": {"a": 3, "b": 2}}, {"q": {"b": 9, "c": 1}}, k=60)["q"]
    assert fused == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})


def test_fit_weight_prefers_the_neutral_weight_on_ties():
    qrels = {"q": {"a": 1}}
    dense, lexical = {"q": {"a": 0.9, "b": 0.1}}, {"q": {"a": 5.0, "b": 1.0}}  # both sides already rank a first
    assert fit_weight(dense, lexical, qrels) == (0.5, pytest.approx(1.0))
    lexical_only = {"q": {"a": 5.0}}
    wrong_dense = {"q": {"b": 0.9, "a": 0.1}}
    assert fit_weight(wrong_dense, lexical_only, qrels)[0] > 0.5  # only BM25 finds it: the weight moves towards BM25


@pytest.fixture
def indexed(tmp_path, tiny_path):
    from ddr.cli.app import main

    folder = make_domain(tmp_path / "data", "alpha", 0)
    home = tmp_path / "home"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])
    run("init")
    assert run("add-domain", "alpha", "--data", str(folder), "--backbone", tiny_path, "--prefix-length", "4", "--epochs", "1",
               "--force", "--quiet").exit_code == 0
    result = run("index", "build", "--data", str(folder), "--backbone", tiny_path, "--quiet")
    assert result.exit_code == 0, result.output
    return run, folder, tiny_path


def test_every_index_has_its_bm25_side_and_hybrid_search_uses_it(indexed):
    run, folder, tiny_path = indexed
    dense = json.loads(run("search", "w3 w5", "--backbone", tiny_path, "--json", "-k", "5").output)["results"][0]
    lexical_only = json.loads(run("search", "w3 w5", "--backbone", tiny_path, "--json", "-k", "5", "--hybrid", "--lexical-weight", "1").output)
    hit = lexical_only["results"][0]
    assert hit["lexical_weight"] == 1.0 and "lexical_weight" not in dense
    # At weight 1 the ranking is BM25's own over this corpus
    from ddr.retrieval.beir import load_corpus
    from ddr.retrieval.bm25 import bm25_run

    corpus = load_corpus(folder)
    bm25 = bm25_run(list(corpus), [f"{d['title']} {d['text']}".strip() for d in corpus.values()], ["q"], ["w3 w5"])["q"]
    positive = [h["id"] for h in hit["hits"] if h["score"] > 0]  # min-max puts BM25's lowest match at 0, with the rest
    assert positive == [d for d in sorted(bm25, key=lambda d: (-bm25[d], d)) if bm25[d] > min(bm25.values())][: len(positive)]
    assert positive and positive[0] == max(bm25, key=bm25.get)
    routed = json.loads(run("search", "w3 w5", "--backbone", tiny_path, "--json", "--hybrid", "--lexical-weight", "routed").output)
    assert 0 <= routed["results"][0]["lexical_weight"] <= 1
    bad = run("search", "w3", "--backbone", tiny_path, "--hybrid", "--lexical-weight", "heavy")
    assert bad.exit_code == 1 and "lexical weight must be a number in [0, 1] or 'routed'" in bad.output


def test_add_domain_records_a_lexical_weight_per_domain(indexed):
    run = indexed[0]
    shown = json.loads(run("show", "router@production", "--json").output)
    config = shown["config"]
    assert config["kind"] == "knn" and len(config["lexical_weights"]) == 1 and 0 <= config["lexical_weights"][0] <= 1
    assert config["lexical_weight"] == 0.5


def test_evaluate_reports_dense_and_hybrid_side_by_side(indexed):
    run, folder, tiny_path = indexed
    out = json.loads(run("evaluate", "--data", str(folder.parent), "--backbone", tiny_path, "--quiet", "--json").output)
    systems = out["collections"]["alpha"]["systems"]
    assert {"BM25", "plain", "BM25 + plain", "DDR-topk", "BM25 + DDR-topk", "BM25 + DDR-prior"} <= set(systems)
    dense_only = json.loads(run("evaluate", "--data", str(folder.parent), "--backbone", tiny_path, "--quiet", "--json", "--dense-only").output)
    assert not any(s.startswith("BM25 + ") for s in dense_only["collections"]["alpha"]["systems"])


READING_ORDER = ["BM25", "BM25 (no stem)", "plain", "DDR-prior", "DDR-topk", "DDR-soft",
                 "BM25 + plain", "BM25 + DDR-prior", "BM25 + DDR-topk", "BM25 + DDR-soft"]
REPEATS = "DDR-none and BM25 + DDR-none not shown: the general prefix is the identity (no general module is live), so they repeat plain and BM25 + plain"


def test_evaluate_orders_rows_for_reading_and_leaves_out_repeats(indexed):
    """Baselines, then DDR per route, then the same rows fused with BM25; with no general module DDR-none is
    plain (and, fused at plain's weight, BM25 + DDR-none is BM25 + plain): those two are left out, once noted."""
    run, folder, tiny_path = indexed
    args = ["evaluate", "--data", str(folder.parent), "--backbone", tiny_path, "--baselines", "bm25,bm25-nostem,plain", "--quiet"]
    printed = run(*args)
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert [line[:28].rstrip() for line in lines[3:] if not line.startswith("note: ")] == READING_ORDER
    assert [line for line in lines if line.startswith("note: ")] == [f"note: {REPEATS}"]
    out = json.loads(run(*args, "--json").output)
    assert list(out["collections"]["alpha"]["systems"]) == READING_ORDER and list(out["average"]) == READING_ORDER
    # BM25 fused at another weight than plain's 0.5 is another row: only DDR-none is left out
    weighted = json.loads(run(*args, "--json", "--lexical-weight", "0.7").output)
    assert list(weighted["average"]) == [*READING_ORDER, "BM25 + DDR-none"]
    assert any(n.startswith("DDR-none not shown: the general prefix is the identity") and n.endswith("so it repeats plain") for n in weighted["notes"])


def test_with_a_general_module_ddr_none_is_a_row_of_its_own(reg, tmp_path, tiny_path):
    import helpers

    from ddr.modules import load_backbone
    from ddr.registry.aliases import set_alias
    from ddr.service.evaluation import evaluate
    from ddr.service.publish import publish_module

    publish_module(reg, helpers.general(load_backbone(tiny_path)))
    set_alias(reg, "general@1", "production")
    result = evaluate(reg, str(make_domain(tmp_path / "data", "alpha", 0)), backbone=tiny_path, progress=False)
    assert list(result["average"]) == ["BM25", "plain", "DDR-none", "BM25 + plain", "BM25 + DDR-none"]  # no domain, no router: none only
    assert not any("not shown" in n for n in result["notes"])


def test_hybrid_rows_are_the_fusion_of_the_dense_and_bm25_runs(reg, tmp_path):
    from beirdata import write_collection
    from helpers import CountingEncoder

    from ddr.retrieval.bm25 import bm25_run
    from ddr.retrieval.metrics import evaluate as score
    from ddr.service.evaluation import evaluate

    docs = [json.dumps({"_id": f"d{i}", "title": "", "text": t}) for i, t in enumerate(["red fox", "red red", "blue fox jumps", "green"])]
    root = write_collection(tmp_path / "c", corpus_lines=docs, qrels_rows=["q1\td2\t1", "q2\td0\t1"])
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "blue fox"}) + "\n" + json.dumps({"_id": "q2", "text": "red"}) + "\n")
    enc = CountingEncoder(["red", "fox", "blue", "green", "jumps"])
    result = evaluate(reg, str(tmp_path), baselines=["bm25", "plain"], encoders=(enc, enc), progress=False)
    got = result["collections"]["c"]["systems"]["BM25 + plain"]["nDCG@10"]
    from ddr.retrieval.scoring import rank

    texts = ["red fox", "red red", "blue fox jumps", "green"]
    dense = rank(enc.encode_queries(["blue fox", "red"]), enc.encode_passages(texts), ["d0", "d1", "d2", "d3"], ["q1", "q2"])
    lexical = bm25_run(["d0", "d1", "d2", "d3"], texts, ["q1", "q2"], ["blue fox", "red"], k=101)
    expected = score({"q1": {"d2": 1}, "q2": {"d0": 1}}, convex(dense, lexical, 0.5))["nDCG@10"]
    assert got == pytest.approx(expected)
