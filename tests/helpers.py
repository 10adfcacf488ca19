"""Small builders shared by tests (modules with non-trivial, seeded weights)."""

from __future__ import annotations

import torch

from ddr.modules import PrefixModule, Router, RouterConfig


def trained_like(module: PrefixModule, seed: int, gate: float = 1.0) -> PrefixModule:
    """Give a module seeded non-zero keys, values and gates, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        module.keys.copy_(torch.randn(module.keys.shape, generator=gen))
        module.values.copy_(torch.randn(module.values.shape, generator=gen))
        module.gates.copy_(gate * torch.rand(module.gates.shape, generator=gen))
    return module


def domain(backbone, name: str, seed: int, prefix_length: int = 4) -> PrefixModule:
    return trained_like(PrefixModule.create(backbone, "domain", name, prefix_length), seed)


def general(backbone, seed: int = 1, prefix_length: int = 4) -> PrefixModule:
    return trained_like(PrefixModule.create(backbone, "general", "general", prefix_length), seed)


def router(backbone, domains: list[str], seed: int = 5, threshold: float = 0.0) -> Router:
    r = Router(
        RouterConfig(
            domains=domains,
            input="tokens",
            input_dim=backbone.spec.hidden_size,
            abstain_threshold=threshold,
            backbone=backbone.spec.__dict__.copy(),
        )
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        r.weight.copy_(torch.randn(r.weight.shape, generator=gen))
        r.bias.copy_(torch.randn(r.bias.shape, generator=gen))
    return r


class CountingEncoder:
    """Bag-of-words counts over a fixed vocabulary: scores are computable by hand."""

    class _Spec:
        weights_sha256 = "0" * 64
        name = "counting"

    class _Backbone:
        pass

    def __init__(self, vocab):
        self.vocab = vocab
        self.backbone = self._Backbone()
        self.backbone.spec = self._Spec()
        self.config = type("C", (), {"passage_max_length": 0, "dtype": "float32"})()
        self.router = None
        self.calls = 0

    def _vec(self, texts):
        self.calls += len(texts)
        return torch.tensor([[float(t.split().count(w)) for w in self.vocab] for t in texts])

    def encode_passages(self, texts, show_progress=False):
        return self._vec(texts)

    def encode_queries(self, texts, route="none", **kw):
        return self._vec(texts)
