"""The public Python API (ddr.service.system): the live system, following production, pinning, stale indexes, failed loads."""

from __future__ import annotations

import numpy as np
import pytest
from beirdata import make_domain

from ddr.registry import Registry
from ddr.registry.aliases import rollback
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig

TRAINED = DomainTrainConfig(prefix_length=4, epochs=5, batch_size=8, lr=1e-1)  # enough that the kept epoch is a trained one


@pytest.fixture
def served(tmp_path, tiny_path):
    """A home with alpha and beta live (router@2) and an index of alpha's corpus."""
    from ddr.service.domain import add_domain
    from ddr.service.indexing import build_index

    data = tmp_path / "data"
    alpha, beta = make_domain(data, "alpha", 0), make_domain(data, "beta", 3)
    reg = Registry.init(tmp_path / "home")
    for name, folder in (("alpha", alpha), ("beta", beta)):
        report = add_domain(reg, name, data=str(folder), config=TRAINED, backbone=tiny_path, progress=False, force=True)
        assert report.module.metrics["best_epoch"] > 0  # a trained module, not the no-op it starts as
    build_index(reg, str(alpha), backbone=tiny_path, progress=False)
    return reg, alpha, tiny_path


def test_each_live_module_changes_the_query_embedding(served):
    from ddr.service.system import System

    reg, _, tiny = served
    system = System(reg, index="alpha", backbone=tiny)
    queries = ["w1 w3", "w31 w33"]
    none, _ = system.encode_queries(queries, route="none")
    for domain in ("alpha", "beta"):
        routed, weights = system.encode_queries(queries, domains=(domain,))
        assert weights == [{domain: 1.0}] * 2
        assert np.abs(routed - none).max() > 1e-3, f"routing to {domain} left the embedding unchanged"
    a, _ = system.encode_queries(queries, domains=("alpha",))
    b, _ = system.encode_queries(queries, domains=("beta",))
    assert np.abs(a - b).max() > 1e-3
    passages = system.encode_passages(["w1 w2 w3"])
    assert passages.shape == (1, none.shape[1]) and passages.dtype == np.float32


def test_search_equals_the_cli_path_and_names_its_versions(served):
    from ddr.service.system import System, search

    reg, _, tiny = served
    system = System(reg, index="alpha", backbone=tiny)
    assert system.versions() == {"router": 2, "general": None, "domains": {"alpha": 1, "beta": 1},
                                 "index": {"name": "alpha", "version": 1}, "backbone": system.snapshot.encoder.backbone.spec.name, "dtype": "float32",
                                 "pinned": False}
    mine = system.search(["w1 w3"], k=5, hybrid=True)
    record, theirs = search(reg, ["w1 w3"], index_name="alpha", k=5, backbone=tiny, hybrid=True)
    assert record.name == "alpha" and [h[0] for h in mine[0].hits] == [h[0] for h in theirs[0].hits]
    assert mine[0].hits[0][1] == pytest.approx(theirs[0].hits[0][1])


def test_refresh_follows_a_rollback_and_a_pin_does_not(served):
    from ddr.service.system import System

    reg, _, tiny = served
    system, pinned = System(reg, index="alpha", backbone=tiny), System(reg, index="alpha", backbone=tiny, router=2)
    before = system.snapshot
    assert system.refresh() == "unchanged" and system.snapshot is before
    rollback(reg, "router", to=1, reason="test")
    assert system.refresh() == "swapped"
    assert system.snapshot.router_version == 1 and system.snapshot.encoder.domains == ["alpha"]
    assert before.router_version == 2 and before.encoder.domains == ["alpha", "beta"]  # a request holding it finishes on it
    assert pinned.refresh() == "unchanged" and pinned.snapshot.router_version == 2
    assert system.health.swaps == 1 and "swapped router 2 -> 1" in system.health.events[-1]


def test_a_version_that_fails_verification_is_never_swapped_in(served):
    from ddr.service.system import System

    reg, _, tiny = served
    system = System(reg, index="alpha", backbone=tiny)
    rollback(reg, "router", to=1, reason="test")
    target = reg.blobs.path(reg.router_version("router@1").files[0].sha256)
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    target.write_bytes(bytes(data))
    assert system.refresh() == "failed"
    assert system.snapshot.router_version == 2 and "sha256" in system.health.error
    assert system.refresh() == "failed" and system.health.failures == 2


def test_a_new_general_prefix_makes_the_index_stale_and_the_old_pair_keeps_serving(tmp_path, tiny_path):
    from ddr.service.general import train_general
    from ddr.service.indexing import build_index
    from ddr.service.system import System

    alpha = make_domain(tmp_path / "data", "alpha", 0)
    reg = Registry.init(tmp_path / "home")
    cfg = GeneralTrainConfig(prefix_length=4, batch_size=4, max_steps=3, lr=5e-2)
    train_general(reg, [str(alpha)], config=cfg, force=True, backbone=tiny_path, progress=False)
    build_index(reg, str(alpha), backbone=tiny_path, progress=False)
    system = System(reg, index="alpha", backbone=tiny_path)
    hits = system.search(["w1 w3"], k=3)
    train_general(reg, [str(alpha)], config=cfg, force=True, backbone=tiny_path, progress=False)
    assert reg.module_version("general@production").version == 2
    assert system.refresh() == "stale"
    assert "index build --data" in system.health.stale and "general@2" in system.health.stale
    assert system.snapshot.state.general_version == 1 and system.search(["w1 w3"], k=3)[0].hits == hits[0].hits
    build_index(reg, str(alpha), backbone=tiny_path, progress=False)  # the fix the message names
    assert system.refresh() == "swapped" and system.snapshot.state.general_version == 2 and not system.health.stale
