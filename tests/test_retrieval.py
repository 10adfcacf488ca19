"""Index build, search, staleness and evaluation through the registry, end to end on tiny models."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from beirdata import write_collection
from click.testing import CliRunner
from helpers import CountingEncoder
from tinybert import sentence

from ddr.cli.app import main
from ddr.modules import PrefixModule
from ddr.registry.aliases import rollback, set_alias
from ddr.retrieval import index as faiss_index
from ddr.retrieval.beir import corpus_fingerprint, load_collection
from ddr.service.evaluation import evaluate
from ddr.service.indexing import StaleIndexError, build_index
from ddr.service.publish import publish_module, publish_router
from ddr.service.system import search


@pytest.fixture
def collection(tmp_path):
    docs = [json.dumps({"_id": f"d{i}", "title": f"t{i}", "text": sentence(i, i + 1, i + 2)}) for i in range(0, 60, 3)]
    rows = [f"q{i}\td{3 * i}\t1" for i in range(5)]
    root = write_collection(tmp_path / "coll", corpus_lines=docs, qrels_rows=rows)
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": sentence(3 * i, 3 * i + 1)}) + "\n" for i in range(5)))
    return root


def test_index_round_trip_keeps_ids(tmp_path):
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(50, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)  # unit vectors: each is its own best match
    ids = [f"doc-{i}" for i in range(50)]
    folder = faiss_index.save(faiss_index.build(emb, "flat"), ids, ["t"] * 50, tmp_path / "ix")
    loaded = faiss_index.load(folder)
    _scores, hits = loaded.search(emb[[7, 21]], 1)
    assert hits == [["doc-7"], ["doc-21"]]
    hnsw = faiss_index.LoadedIndex(faiss_index.build(emb, "hnsw"), ids, [])
    assert hnsw.search(emb[[3]], 1)[1] == [["doc-3"]]


def test_trec_run_file(tmp_path):
    faiss_index.write_trec({"q1": {"d2": 0.5, "d1": 0.9}}, tmp_path / "run.trec", tag="x")
    assert (tmp_path / "run.trec").read_text().splitlines() == ["q1 Q0 d1 1 0.900000 x", "q1 Q0 d2 2 0.500000 x"]


def test_build_search_and_no_reencoding(reg, collection, tiny_path):
    record, encoded = build_index(reg, str(collection), backbone=tiny_path, progress=False)
    assert encoded == 20 and record.general_version is None and record.params["documents"] == 20
    again, encoded = build_index(reg, str(collection), backbone=tiny_path, progress=False)
    assert encoded == 0 and again.version == 2  # restartable: finished shards are reused

    _, results = search(reg, [sentence(9, 10)], k=3, backbone=tiny_path)
    assert len(results[0].hits) == 3 and results[0].weights == {}

    # Adding a domain (module + router + production alias) and rolling the router back touch no passage.
    from ddr.modules import load_backbone

    bb = load_backbone(tiny_path)
    fp = corpus_fingerprint(load_collection(collection).corpus)
    for seed in (1, 2):
        dom = PrefixModule.create(bb, "domain", "coll")
        with torch.no_grad():
            dom.gates.fill_(0.5 * seed)
        v = publish_module(reg, dom, data_fingerprint=fp)
        router = _router(bb, ["coll"])
        publish_router(reg, router, [("coll", v.version)], None)
        set_alias(reg, f"router@{v.version}", "production")
    _, routed = search(reg, [sentence(9, 10)], route="topk", k=3, backbone=tiny_path)
    assert routed[0].weights == {"coll": 1.0}
    rollback(reg, "router")
    result = evaluate(reg, str(collection), backbone=tiny_path, progress=False)
    assert result["collections"]["coll"]["passages_encoded"] == 0
    # no general module: DDR-none is the plain backbone, so its rows are left out with a note
    assert list(result["average"]) == ["BM25", "plain", "DDR-prior", "DDR-topk", "DDR-soft", "BM25 + plain", "BM25 + DDR-prior", "BM25 + DDR-topk",
                                       "BM25 + DDR-soft"]
    assert any(n.startswith("DDR-none and BM25 + DDR-none not shown") for n in result["notes"])


def _router(bb, domains):
    from ddr.modules import Router, RouterConfig

    return Router(RouterConfig(domains=domains, input_dim=bb.spec.hidden_size, backbone=bb.spec.__dict__))


def test_stale_index_refused(reg, collection, tiny_path):
    from ddr.modules import load_backbone

    build_index(reg, str(collection), backbone=tiny_path, progress=False)
    general = PrefixModule.create(load_backbone(tiny_path), "general", "general")
    publish_module(reg, general)
    set_alias(reg, "general@1", "production")
    with pytest.raises(StaleIndexError) as err:
        search(reg, ["w1"], backbone=tiny_path)
    assert f"ddr-registry index build --data {collection.resolve()} --name coll" in str(err.value)
    record, encoded = build_index(reg, str(collection), backbone=tiny_path, progress=False)
    assert record.general_version == 1 and encoded == 20  # a new general prefix does re-encode
    search(reg, ["w1"], backbone=tiny_path)


def test_metrics_with_counting_encoder(reg, tmp_path):
    docs = [
        json.dumps({"_id": "d1", "title": "", "text": "alpha"}),
        json.dumps({"_id": "d2", "title": "", "text": "beta beta"}),
        json.dumps({"_id": "d3", "title": "", "text": "beta gamma"}),
    ]
    root = write_collection(tmp_path / "hand", corpus_lines=docs, qrels_rows=["q1\td1\t1", "q2\td3\t1"])
    (root / "queries.jsonl").write_text('{"_id": "q1", "text": "alpha"}\n{"_id": "q2", "text": "beta"}\n')
    enc = CountingEncoder(["alpha", "beta", "gamma"])
    result = evaluate(reg, str(root), baselines=["plain"], encoders=(enc, enc), progress=False)
    without_plain = evaluate(reg, str(root), baselines=[], encoders=(enc, enc), progress=False)  # the DDR row stands in for plain
    # q1: d1 first (score 1) -> 1.0; q2: d2 (2) before d3 (1) -> nDCG 1/log2(3), RR 1/2.
    for got, system in ((result, "plain"), (without_plain, "DDR (= plain: no modules)")):
        m = got["collections"]["hand"]["systems"][system]
        assert m["nDCG@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
        assert m["RR@10"] == pytest.approx(0.75)
        assert m["R@100"] == pytest.approx(1.0)
    assert "DDR (= plain: no modules)" not in result["collections"]["hand"]["systems"]  # it would repeat plain
    assert result["collections"]["hand"]["passages_encoded"] == 3


def test_cli_index_search_evaluate(tmp_path, collection, tiny_path):
    home = tmp_path / "clihome"
    run = lambda *a: CliRunner().invoke(main, ["--home", str(home), *a])
    assert run("init").exit_code == 0
    result = run("index", "build", "--data", str(collection), "--backbone", tiny_path, "--quiet")
    assert result.exit_code == 0, result.output
    assert "20 encoded now" in result.output
    result = run("search", sentence(3, 4), "--backbone", tiny_path, "--json", "-k", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["results"][0]["hits"]) == 2 and data["results"][0]["router_weights"] == {}
    qfile = collection / "queries.jsonl"
    result = run("search", "--queries", str(qfile), "--run-out", str(tmp_path / "run.trec"), "--backbone", tiny_path)
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "run.trec").read_text().splitlines()) == 5 * 10
    result = run("evaluate", "--data", str(collection), "--backbone", tiny_path, "--quiet", "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 0, result.output
    assert "note: DDR and BM25 + DDR not shown: no modules are registered, so they repeat plain and BM25 + plain" in result.output
    assert "BM25" in result.output and "DDR (= plain" not in result.output
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    result = run("evaluate", "--data", str(collection), "--baselines", "bm25,nope")
    assert result.exit_code == 1 and "unknown baseline" in result.output
    result = run("search", "x", "--index", "missing", "--backbone", tiny_path)
    assert result.exit_code == 1 and "no index named 'missing'" in result.output
