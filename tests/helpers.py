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
