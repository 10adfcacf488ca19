"""The router: a query's distribution over the registered domains, or abstention.

A linear map over a query representation, with a softmax temperature. A query whose best domain
probability falls below ``abstain_threshold`` gets no domain at all, only the general prefix,
because forcing an unknown domain through another domain's prefix costs points. (Measured on the
seven collections, leave-one-out: the router's confidence separates unseen from known domains with
AUROC 0.85, cosine to domain centroids only 0.36; see benchmarks/router_input.py.)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from .config import BackboneSpec, RouterConfig
from .io import read_config, save_folder


class Router(nn.Module):
    """Maps query representations ``(B, input_dim)`` to domain probabilities ``(B, D)``."""

    def __init__(self, config: RouterConfig) -> None:
        super().__init__()
        self.config = config
        n, dim = len(config.domains), config.input_dim
        self.weight = nn.Parameter(torch.zeros(n, dim))
        self.bias = nn.Parameter(torch.zeros(n))
        # Subtracted before everything: token-mean representations share one dominant direction
        # (raw cosines between unrelated queries sit near 0.9), which would make abstention useless.
        self.register_buffer("center", torch.zeros(dim))

    @property
    def domains(self) -> list[str]:
        return list(self.config.domains)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x.to(self.weight.dtype) - self.center, self.weight, self.bias) / self.config.temperature

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Domain probabilities; rows the router abstains on are all zero."""
        if not self.config.domains:
            return x.new_zeros(x.shape[0], 0)
        probs = self.logits(x).softmax(-1)
        return probs * (~self.abstains(x)).unsqueeze(-1).to(probs.dtype)

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """The best domain's probability per row."""
        return self.logits(x).softmax(-1).max(-1).values

    def abstains(self, x: torch.Tensor) -> torch.Tensor:
        """True for rows the router is not confident about (best probability below the threshold)."""
        if self.config.abstain_threshold <= 0 or not self.config.domains:
            return torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        return self.confidence(x) < self.config.abstain_threshold

    def save(self, folder: str | os.PathLike) -> Path:
        return save_folder(folder, self.state_dict(), self.config.to_dict())

    @classmethod
    def load(cls, folder: str | os.PathLike, backbone: BackboneSpec | None = None) -> Router:
        """Load strictly; with ``backbone`` given, refuse a router for another backbone or input width."""
        config = RouterConfig.from_dict(read_config(folder))
        tensors = checks.check_router(folder, config, backbone)  # the same checks a Hub pull runs
        router = cls(config)
        router.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
        return router
