"""One optimiser step moves prefix and router parameters only; the backbone stays bit-identical."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from helpers import domain, general, router

from ddr.modules import DDREncoder, weights_sha256
from ddr.trainer.losses import info_nce


def test_step_changes_only_prefix_and_router(tiny_backbone, texts):
    enc = DDREncoder(
        tiny_backbone,
        general(tiny_backbone),
        [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3)],
        router(tiny_backbone, ["a", "b"]),
    )
    before_hash = weights_sha256(tiny_backbone.model)
    before = {id(p): p.detach().clone() for p in enc.trainable_parameters()}
    optimizer = torch.optim.AdamW(enc.trainable_parameters(), lr=1e-2)

    q = enc.tokenize(texts, 32)
    p = enc.tokenize(list(reversed(texts)), 32)
    weights = torch.tensor([[1.0, 1.0, 0.0]] * len(texts))  # general + domain a
    q_emb = enc.embed(q["input_ids"], q["attention_mask"], weights, with_domains=True)
    p_emb = enc.embed(p["input_ids"], p["attention_mask"], torch.ones(len(texts), 1))
    loss = info_nce(q_emb, p_emb, torch.arange(len(texts)).flip(0))
    loss = loss + F.cross_entropy(enc.router.logits(enc.token_mean(q["input_ids"], q["attention_mask"])), torch.zeros(len(texts), dtype=torch.long))
    loss.backward()
    optimizer.step()

    assert weights_sha256(tiny_backbone.model) == before_hash
    assert all(p.grad is None for p in tiny_backbone.model.parameters())
    changed = {name for name, p in enc.named_parameters() if p.requires_grad and not torch.equal(before[id(p)], p)}
    assert any(n.startswith("general.") for n in changed)
    assert {"domain_modules.a.keys", "domain_modules.a.values", "router.weight"} <= changed
    # Domain b had weight zero in every row: its gradient is exactly zero.
    b = enc.domain_modules["b"]
    assert all(p.grad is None or not p.grad.any() for p in b.parameters())


def test_weights_hash_detects_change(tiny_backbone):
    h = weights_sha256(tiny_backbone.model)
    p = next(tiny_backbone.model.parameters())
    with torch.no_grad():
        p[0].add_(1.0)
    try:
        assert weights_sha256(tiny_backbone.model) != h
    finally:
        with torch.no_grad():
            p[0].sub_(1.0)
    assert weights_sha256(tiny_backbone.model) == h


def test_multi_positive_info_nce():
    from ddr.trainer.losses import info_nce, multi_positive_info_nce

    torch.manual_seed(0)
    q, p = torch.randn(3, 8), torch.randn(10, 8)
    # one positive per query: plain InfoNCE (cross-entropy on that column)
    single = multi_positive_info_nce(q, p, [[1], [4], [7]], 0.1)
    assert torch.allclose(single, info_nce(q, p, torch.tensor([1, 4, 7]), 0.1))
    # by hand for a row with two positives: -log(sum of their softmax mass)
    logits = q @ p.T / 0.1
    expected = -torch.log(logits[0].softmax(-1)[[2, 5]].sum())
    assert torch.allclose(multi_positive_info_nce(q[:1], p, [[2, 5]], 0.1), expected)
