"""Routes and the router: prior, top-k, soft, abstention, growth."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from helpers import domain, general, router

from ddr.modules import DDREncoder, Route
from ddr.modules.errors import RoutingError
from ddr.modules.routing import topk_weights


def test_parse_routes():
    assert Route.parse("none") == Route("none")
    assert Route.parse("topk") == Route("topk", k=1)
    assert Route.parse("topk:3").k == 3
    assert Route.parse("prior:a").domains == (("a", 1.0),)
    assert Route.parse("prior:a,b").domains == (("a", 0.5), ("b", 0.5))
    assert Route.parse("prior:a=0.7,b=0.3").domains == (("a", 0.7), ("b", 0.3))
    for bad in ("best", "topk:x", "prior:", "prior:a=-1", "soft:2", "topk:0"):
        with pytest.raises(RoutingError):
            Route.parse(bad)


def test_topk_weights_renormalise():
    probs = torch.tensor([[0.5, 0.3, 0.2], [0.0, 0.0, 0.0]])
    w = topk_weights(probs, 2)
    assert torch.allclose(w[0], torch.tensor([0.625, 0.375, 0.0]))
    assert torch.equal(w[1], torch.zeros(3))  # abstained rows stay general-only
    assert torch.allclose(topk_weights(probs[:1], 5), probs[:1])  # k larger than D


@pytest.fixture
def routed(tiny_backbone):
    return DDREncoder(
        tiny_backbone,
        general(tiny_backbone),
        [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3), domain(tiny_backbone, "c", 4)],
        router(tiny_backbone, ["a", "b", "c"]),
    )


def test_soft_and_topk_weights(routed, texts):
    _, soft = routed.encode_queries(texts, route="soft", return_weights=True)
    assert torch.allclose(soft.sum(-1), torch.ones(len(texts)), atol=1e-5)
    assert (soft > 0).all()
    _, top = routed.encode_queries(texts, route="topk:2", return_weights=True)
    assert ((top > 0).sum(-1) == 2).all()
    assert torch.allclose(top.sum(-1), torch.ones(len(texts)), atol=1e-5)
    # top-k keeps the router's best domains
    assert torch.equal(top.argmax(-1), soft.argmax(-1))
    _, top1 = routed.encode_queries(texts, route="topk", return_weights=True)  # default k=1
    assert torch.equal(top1.max(-1).values, torch.ones(len(texts)))
    assert ((top1 > 0).sum(-1) == 1).all()


def test_router_abstains_when_unsure(tiny_backbone, texts):
    enc = DDREncoder(
        tiny_backbone,
        general(tiny_backbone),
        [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3)],
        router(tiny_backbone, ["a", "b"]),
    )
    batch = enc.tokenize(texts, 32)
    conf = enc.router.confidence(enc.token_mean(batch["input_ids"], batch["attention_mask"])).detach()
    threshold = float(conf.median())
    enc.router.config = replace(enc.router.config, abstain_threshold=threshold)
    emb, w = enc.encode_queries(texts, route="topk", return_weights=True)
    unsure = conf < threshold
    assert unsure.any() and (~unsure).any()
    for i in range(len(texts)):
        if unsure[i]:
            assert w[i].sum() == 0, "an abstained query must get the general prefix only"
            assert torch.allclose(emb[i], enc.encode_queries([texts[i]], route="none")[0], atol=1e-5)
        else:
            assert w[i].sum() == pytest.approx(1.0)


def test_prior_unknown_domain_is_an_error(routed, texts):
    with pytest.raises(RoutingError, match="unknown domain 'zzz'"):
        routed.encode_queries(texts, route="prior:zzz")


def test_router_routes_need_a_router(tiny_backbone, texts):
    enc = DDREncoder(tiny_backbone, general(tiny_backbone), [domain(tiny_backbone, "a", 2)])
    with pytest.raises(RoutingError, match="needs a router"):
        enc.encode_queries(texts, route="soft")


def test_router_over_subset_maps_columns(tiny_backbone, texts):
    """A router that knows fewer domains than are loaded puts zero weight on the others."""
    enc = DDREncoder(
        tiny_backbone,
        general(tiny_backbone),
        [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3)],
        router(tiny_backbone, ["b"]),
    )
    _, w = enc.encode_queries(texts, route="soft", return_weights=True)
    assert torch.equal(w[:, 0], torch.zeros(len(texts)))
    assert torch.allclose(w[:, 1], torch.ones(len(texts)))


def test_router_with_unloaded_domain_refused(tiny_backbone):
    with pytest.raises(RoutingError, match="not loaded"):
        DDREncoder(tiny_backbone, general(tiny_backbone), [domain(tiny_backbone, "a", 2)], router(tiny_backbone, ["a", "x"]))


def test_general_router_input(tiny_backbone, texts):
    r = router(tiny_backbone, ["a", "b"])
    r.config = replace(r.config, input="general")
    enc = DDREncoder(tiny_backbone, general(tiny_backbone), [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3)], r)
    _, w = enc.encode_queries(texts, route="soft", return_weights=True)
    expected = r(enc.encode_queries(texts, route="none"))
    assert torch.allclose(w, expected, atol=1e-5)
