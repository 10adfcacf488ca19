"""``ddr-registry serve`` as users run it: a real server process on a free port and a real HTTP client."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from beirdata import make_domain
from click.testing import CliRunner
from servetools import TOKEN, Server

from ddr.registry import Registry
from ddr.trainer.config import DomainTrainConfig

TRAINED = DomainTrainConfig(prefix_length=4, epochs=5, batch_size=8, lr=1e-1)


@pytest.fixture(scope="module")
def home(tmp_path_factory, tiny_path):
    """alpha and beta live (router@2), an index of alpha's corpus; the server loads the tiny backbone from tiny_path."""
    from ddr.service.domain import add_domain
    from ddr.service.indexing import build_index

    root = tmp_path_factory.mktemp("serve")
    alpha, beta = make_domain(root / "data", "alpha", 0), make_domain(root / "data", "beta", 3)
    reg = Registry.init(root / "home")
    for name, folder in (("alpha", alpha), ("beta", beta)):
        add_domain(reg, name, data=str(folder), config=TRAINED, backbone=tiny_path, progress=False, force=True)
    build_index(reg, str(alpha), backbone=tiny_path, progress=False)
    return root / "home"


@pytest.fixture(scope="module")
def server(home, tiny_path):
    with Server(home, "--backbone", tiny_path, "--max-wait-ms", "20") as srv:
        yield srv


def _system(home, tiny_path):
    from ddr.service.system import System

    return System(Registry(str(home)), index="alpha", backbone=tiny_path)


def test_search_and_encode_answer_what_the_library_answers(server, home, tiny_path):
    system = _system(home, tiny_path)
    mine = system.search(["w1 w3", "w4 w6"], k=5, hybrid=True)
    body = server.post("/search", {"queries": ["w1 w3", "w4 w6"], "k": 5, "hybrid": True}).json()
    assert body["router_version"] == 2 and body["index"] == "alpha@1"
    for got, want in zip(body["results"], mine):
        assert [h["id"] for h in got["hits"]] == [d for d, _, _ in want.hits]
        assert [h["score"] for h in got["hits"]] == pytest.approx([s for _, s, _ in want.hits], abs=1e-5)
        assert got["router_weights"] == want.weights and got["lexical_weight"] == 0.5
    for domain in ("alpha", "beta"):  # each module really changes the served embedding, and equals the library's
        served = np.array(server.post("/encode", {"queries": ["w1 w3"], "domain": domain}).json()["embeddings"])
        local, _ = system.encode_queries(["w1 w3"], domains=(domain,))
        plain = np.array(server.post("/encode", {"queries": ["w1 w3"], "route": "none"}).json()["embeddings"])
        assert np.abs(served - local).max() < 1e-5 and np.abs(served - plain).max() > 1e-3
    passages = np.array(server.post("/encode", {"passages": ["w1 w2 w3"]}).json()["embeddings"])
    assert np.abs(passages - system.encode_passages(["w1 w2 w3"])).max() < 1e-5


def test_a_served_request_resolves_its_route_once(home, tiny_path, monkeypatch):
    """A request is parsed once and its route resolved once; the micro-batch encodes with that Route (in process)."""
    from fastapi.testclient import TestClient

    from ddr.server.app import create_app
    from ddr.service import search, system

    resolved = []
    real = search.resolve_route

    def counted(encoder, route="topk", domains=()):
        resolved.append((route, tuple(domains)))
        return real(encoder, route, domains)

    for module in (search, system):  # wherever the server or System looks it up
        monkeypatch.setattr(module, "resolve_route", counted)
    with TestClient(create_app(_system(home, tiny_path), poll=0)) as client:
        for path, body, status in [("/search", {"query": "w1 w3", "domain": "alpha", "hybrid": True}, 200),
                                   ("/search", {"queries": ["w1", "w4 w6"], "route": "soft"}, 200),
                                   ("/encode", {"queries": ["w1 w3"], "route": "none"}, 200),
                                   ("/search", {"query": "w1", "route": "sideways"}, 400)]:
            resolved.clear()
            r = client.post(path, json=body)
            assert r.status_code == status, r.text
            assert resolved == [(body.get("route", "topk"), (body["domain"],) if "domain" in body else ())], (path, body)
        resolved.clear()
        assert client.post("/encode", json={"passages": ["w1 w2"]}).status_code == 200 and resolved == []


BAD = {  # name: (raw body or JSON, status, words the one-line error contains)
    "malformed JSON": (b'{"query": "w1', 400, "not JSON"),
    "empty query": ({"query": "  "}, 400, "empty"),
    "1 MB query": ({"query": "w1 " * 350_000}, 413, "bytes; at most"),
    "long query": ({"query": "w1 " * 3000}, 413, "characters; at most"),
    "k 0": ({"query": "w1", "k": 0}, 422, "k must be"),
    "k 10^6": ({"query": "w1", "k": 10**6}, 422, "k must be"),
    "unknown domain": ({"query": "w1", "domain": "zzz"}, 400, "unknown domain 'zzz'"),
    "unknown route": ({"query": "w1", "route": "sideways"}, 400, "sideways"),
    "unknown field": ({"query": "w1", "kk": 3}, 422, "kk"),
    "both query and queries": ({"query": "w1", "queries": ["w2"]}, 400, "either"),
    "lexical weight 2": ({"query": "w1", "hybrid": True, "lexical_weight": 2}, 422, "lexical_weight"),
    "a list": ([1, 2], 422, "body"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_a_one_line_4xx_and_the_server_stays_up(server, case):
    body, status, words = BAD[case]
    r = server.client.post("/search", content=body, headers={"content-type": "application/json"}) if isinstance(body, bytes) \
        else server.post("/search", body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert words in error and "\n" not in error and len(error) < 300
    assert server.get("/healthz").json()["status"] == "ok"


def test_encode_refuses_bad_input_too(server):
    assert server.post("/encode", {}).status_code == 400
    assert server.post("/encode", {"queries": ["w1"], "passages": ["w2"]}).status_code == 400
    assert server.post("/encode", {"passages": [""]}).status_code == 400
    assert server.post("/encode", {"queries": ["w1"] * 257}).status_code == 413


def test_the_token_guards_everything_but_healthz(server):
    import httpx

    with httpx.Client(base_url=server.url) as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        for path in ("/version", "/metrics"):
            r = anonymous.get(path)
            assert r.status_code == 401 and r.json() == {"error": "missing or wrong bearer token"}
        assert anonymous.post("/search", json={"query": "w1"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.get("/version").json()["router"] == 2


def test_binding_beyond_loopback_needs_a_token(home, monkeypatch):
    from ddr.cli.app import main

    monkeypatch.delenv("DDR_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(main, ["--home", str(home), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "needs a token" in result.output and "Traceback" not in result.output


def test_metrics_version_and_docs(server):
    server.post("/search", {"query": "w1 w3", "domain": "alpha"})
    text = server.get("/metrics").text
    for name in ('ddr_requests_total{endpoint="/search",status="200"}', 'ddr_router_picks_total{domain="alpha"}', "ddr_swaps_total",
                 "ddr_request_seconds_bucket", "ddr_batch_texts_count", "ddr_router_abstentions_total"):
        assert name in text, name
    version = server.get("/version").json()
    assert version["domains"] == {"alpha": 1, "beta": 1} and version["index"] == {"name": "alpha", "version": 1}
    assert server.get("/openapi.json").json()["paths"]["/search"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert server.get("/docs").status_code == 200


def test_concurrent_requests_are_micro_batched(server):
    before = _batches(server)
    threads = [threading.Thread(target=server.post, args=("/search", {"query": f"w{i} w3"})) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = _batches(server) - before
    assert 1 <= calls < 16


def _batches(server) -> float:
    line = next(x for x in server.get("/metrics").text.splitlines() if x.startswith("ddr_batch_texts_count"))
    return float(line.split()[-1])


def test_a_rollback_by_another_process_under_load_fails_no_request(server, home):
    failures, versions, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            r = server.post("/search", {"query": "w1 w3"})
            (versions.append((time.monotonic(), r.json()["router_version"])) if r.status_code == 200 else failures.append(r.text))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        time.sleep(0.5)
        cmd = [sys.executable, "-m", "ddr", "--home", str(home), "rollback", "router", "--to", "1"]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        rolled_at = time.monotonic()
        assert server.wait_for(lambda: versions and versions[-1][1] == 1, timeout=60)
        first = next(t for t, v in versions if v == 1)
    finally:
        stop.set()
        worker.join()
    assert failures == [] and first - rolled_at < 30  # poll 0.3 s plus the load of router@1
    assert [v for _, v in versions] == sorted([v for _, v in versions], reverse=True)  # 2 ... 2, 1 ... 1: never back
    subprocess.run([sys.executable, "-m", "ddr", "--home", str(home), "alias", "set", "router@2", "production"], check=True,
                   capture_output=True, timeout=120)
    assert server.wait_for(lambda: server.get("/version").json()["router"] == 2, timeout=60)
    assert "ddr_swaps_total 2.0" in server.get("/metrics").text


def test_token_from_the_environment(home, tiny_path, monkeypatch):
    monkeypatch.setenv("DDR_SERVE_TOKEN", TOKEN)
    with Server(home, "--backbone", tiny_path, "--router", "1", token=None) as srv:
        import httpx

        with httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            assert client.get("/version").json()["router"] == 1 and client.get("/version").json()["pinned"] is True
        assert srv.get("/version").status_code == 401


def test_a_stale_index_is_reported_and_the_last_consistent_pair_keeps_serving(tmp_path, tiny_path):
    from ddr.service.general import train_general
    from ddr.service.indexing import build_index
    from ddr.trainer.config import GeneralTrainConfig

    alpha = make_domain(tmp_path / "data", "alpha", 0)
    reg = Registry.init(tmp_path / "home")
    cfg = GeneralTrainConfig(prefix_length=4, batch_size=4, max_steps=3, lr=5e-2)
    train_general(reg, [str(alpha)], config=cfg, force=True, backbone=tiny_path, progress=False)
    build_index(reg, str(alpha), backbone=tiny_path, progress=False)
    with Server(tmp_path / "home", "--backbone", tiny_path) as srv:
        before = srv.post("/search", {"query": "w1 w3"}).json()
        train_general(reg, [str(alpha)], config=cfg, force=True, backbone=tiny_path, progress=False)  # general@2 goes live
        health = srv.wait_for(lambda: (h := srv.get("/healthz").json())["status"] == "stale" and h, timeout=60)
        assert health and "index build --data" in health["stale"] and health["serving"]["general"] == 1
        assert srv.post("/search", {"query": "w1 w3"}).json() == before
        assert "rebuild it: ddr-registry index build" in srv.log.read_text()  # logged for the operator
        assert "ddr_index_stale 1.0" in srv.get("/metrics").text
