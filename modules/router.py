"""The router: a query's distribution over the registered domains, or abstention.

Two kinds, over the same query representation:

- ``knn`` (the default for new routers; RouterRetriever's idea): the router keeps its training
  queries (centred, normalised) with each domain module's nDCG@10 gain over the general prefix on
  each of them. A query goes to the module with the best similarity-weighted mean gain among its
  ``k`` nearest training queries, or to no module when no gain passes ``margin``. It routes by what
  helps, not by which collection a query came from, so overlapping domains stop hurting each other
  (benchmarks/quality/quality_lab.py: with all seven modules live, top-k within 0.24 of prior routing on
  test, against 1.23 for the linear router).
- ``linear``: a domain classifier with a softmax temperature; a query whose best probability falls
  below ``abstain_threshold`` gets no domain (the leave-one-out confidence separates unseen from
  known domains with AUROC 0.85; benchmarks/quality/router_input.py).
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
        if config.kind == "knn":
            self.register_buffer("keys", torch.zeros(config.examples, dim))  # training queries, centred and normalised
            self.register_buffer("gains", torch.zeros(config.examples, n))  # each module's nDCG@10 gain on each
        else:
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

    def votes(self, x: torch.Tensor) -> torch.Tensor:
        """knn: each module's mean nDCG@10 gain over the ``k`` nearest training queries (similarity-weighted)."""
        q = F.normalize(x.float() - self.center, dim=-1)
        k = min(self.config.k, self.keys.shape[0])
        sims, idx = (q @ self.keys.T).topk(k, dim=-1)
        w = sims.clamp(min=0).unsqueeze(-1)
        return (w * self.gains[idx]).sum(1) / w.sum(1).clamp(min=1e-9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Domain probabilities (knn: one-hot); rows the router abstains on are all zero."""
        if not self.config.domains or (self.config.kind == "knn" and self.config.examples == 0):
            return x.new_zeros(x.shape[0], len(self.config.domains))
        if self.config.kind == "knn":
            votes = self.votes(x)
            probs = F.one_hot(votes.argmax(-1), len(self.config.domains)).to(votes.dtype)
        else:
            probs = self.logits(x).softmax(-1)
        return probs * (~self.abstains(x)).unsqueeze(-1).to(probs.dtype)

    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """The best domain's probability (knn: its expected nDCG@10 gain) per row."""
        if self.config.kind == "knn":
            return self.votes(x).max(-1).values
        return self.logits(x).softmax(-1).max(-1).values

    def abstains(self, x: torch.Tensor) -> torch.Tensor:
        """True for rows the router is not confident about (linear: best probability below the threshold;
        knn: no module's expected gain passes the margin)."""
        if self.config.kind == "knn":
            return self.confidence(x) <= self.config.margin
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
