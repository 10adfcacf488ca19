"""Prefix injection: exact no-op when masked or fresh, per-row composition, padding, positions."""

from __future__ import annotations

import torch
from helpers import domain, general, router
from transformers import BertModel

from ddr.modules import DDREncoder, PrefixModule, Route


def raw_mean_pooled(backbone, texts):
    """The plain backbone computed without ddr at all: a fresh BertModel with the same weights."""
    ref = BertModel(backbone.model.config.__class__.from_dict(backbone.model.config.to_dict()), add_pooling_layer=False)
    ref.config._attn_implementation = "sdpa"
    ref.load_state_dict(backbone.model.state_dict())
    ref.eval()
    batch = backbone.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = ref(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


def test_plain_path_equals_raw_backbone(tiny_backbone, texts):
    got = DDREncoder(tiny_backbone).encode_passages(texts)
    assert (got - raw_mean_pooled(tiny_backbone, texts)).abs().max() <= 1e-6


def test_fresh_general_module_is_exact_noop(tiny_backbone, texts):
    plain = DDREncoder(tiny_backbone).encode_passages(texts)
    fresh = PrefixModule.create(tiny_backbone, "general", "general", prefix_length=8)
    assert fresh.values.abs().sum() > 0  # realistic keys/values, only the gate is closed
    got = DDREncoder(tiny_backbone, fresh).encode_passages(texts)
    assert (got - plain).abs().max() <= 1e-6


def test_zero_weight_prefix_reproduces_plain(tiny_backbone, texts):
    """A trained general + domains with every weight zero (route 'plain') is the bare backbone."""
    enc = DDREncoder(tiny_backbone, general(tiny_backbone), [domain(tiny_backbone, "a", 2)])
    plain = raw_mean_pooled(tiny_backbone, texts)
    got = enc.encode_queries(texts, route="plain")
    assert (got - plain).abs().max() <= 1e-6
    zero_prior = enc.encode_queries(texts, route=Route.prior({"a": 0.0}))
    assert (zero_prior - enc.encode_queries(texts, route="none")).abs().max() <= 1e-6


def test_nonzero_prefix_changes_embeddings(tiny_backbone, texts):
    plain = DDREncoder(tiny_backbone).encode_passages(texts)
    got = DDREncoder(tiny_backbone, general(tiny_backbone)).encode_passages(texts)
    assert (got - plain).abs().max() > 1e-2


def test_fresh_domain_module_is_noop_over_general(tiny_backbone, texts):
    g = general(tiny_backbone)
    fresh = PrefixModule.create(tiny_backbone, "domain", "new", prefix_length=4)
    enc = DDREncoder(tiny_backbone, g, [fresh])
    none = enc.encode_queries(texts, route="none")
    assert (enc.encode_queries(texts, route="prior:new") - none).abs().max() <= 1e-6


def test_domain_weight_changes_query_not_passage(tiny_backbone, texts):
    g = general(tiny_backbone)
    enc = DDREncoder(tiny_backbone, g, [domain(tiny_backbone, "a", 2)])
    assert (enc.encode_queries(texts, route="prior:a") - enc.encode_queries(texts, route="none")).abs().max() > 1e-2
    # Passages ignore domains entirely: same as an encoder that has none loaded.
    assert torch.equal(enc.encode_passages(texts), DDREncoder(tiny_backbone, g).encode_passages(texts))


def test_mixed_batch_rows_equal_rows_alone(tiny_backbone, texts):
    enc = DDREncoder(
        tiny_backbone,
        general(tiny_backbone),
        [domain(tiny_backbone, "a", 2), domain(tiny_backbone, "b", 3)],
        router(tiny_backbone, ["a", "b"]),
    )
    routes = ["plain", "none", "prior:a", Route.prior({"a": 0.3, "b": 0.7}), "topk:1"]
    batch, weights = enc.encode_queries(texts, route=routes, return_weights=True)
    for i, (text, route) in enumerate(zip(texts, routes)):
        alone, w_alone = enc.encode_queries([text], route=route, return_weights=True)
        assert (batch[i] - alone[0]).abs().max() <= 1e-5, f"row {i} ({route}) differs when batched"
        assert torch.allclose(weights[i], w_alone[0])
    # The rows really used different compositions.
    assert torch.equal(weights[2], torch.tensor([1.0, 0.0]))
    assert torch.allclose(weights[3], torch.tensor([0.3, 0.7]))
    assert weights[0].sum() == 0 and weights[1].sum() == 0


def test_padding_is_masked(tiny_backbone, texts):
    """Padding must not leak into attention: a short text alone and padded beside a long one agree."""
    enc = DDREncoder(tiny_backbone, general(tiny_backbone))
    short, long_ = texts[2], texts[1]
    together = enc.encode_passages([short, long_])
    alone = enc.encode_passages([short])
    assert (together[0] - alone[0]).abs().max() <= 1e-5


def test_prefix_weight_is_linear_composition(tiny_backbone, texts):
    """general + 1.0*a equals a general module whose tensors are general + a (the paper's rule)."""
    g, a = general(tiny_backbone), domain(tiny_backbone, "a", 2)
    merged = PrefixModule.create(tiny_backbone, "general", "merged", prefix_length=4)
    with torch.no_grad():
        for name in ("keys", "values", "gates"):
            getattr(merged, name).copy_(getattr(g, name) + getattr(a, name))
    routed = DDREncoder(tiny_backbone, g, [a]).encode_queries(texts, route="prior:a")
    direct = DDREncoder(tiny_backbone, merged).encode_passages(texts)
    assert (routed - direct).abs().max() <= 1e-5


def test_bf16_close_to_fp32(tiny_backbone, texts):
    from ddr.modules import EncoderConfig

    g = general(tiny_backbone)
    fp32 = DDREncoder(tiny_backbone, g).encode_passages(texts)
    bf16 = DDREncoder(tiny_backbone, g, config=EncoderConfig(dtype="bfloat16")).encode_passages(texts)
    cos = torch.nn.functional.cosine_similarity(fp32, bf16, dim=-1)
    assert cos.min() > 0.99
    assert not torch.equal(fp32, bf16)
