"""Fitting the router: a linear domain classifier with a confidence threshold for abstention.

The router is trained as a classifier on labelled queries (which domain each came from), not
through the retrieval loss: top-1 routing with renormalised weights passes it almost no gradient.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ddr.modules.config import RouterConfig
from ddr.modules.router import Router

logger = logging.getLogger(__name__)


def fit_router(
    reps: torch.Tensor,
    labels: torch.Tensor,
    domains: Sequence[str],
    input: str = "tokens",
    backbone: dict[str, Any] | None = None,
    temperature: float = 1.0,
    abstain_quantile: float = 0.05,
    epochs: int = 300,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> Router:
    """Train a router on query representations ``reps`` (N, dim) with domain ``labels`` (N,).

    Classes are balanced by weighting (nfcorpus has 80x the training queries of lisa). The abstain
    threshold is the ``abstain_quantile`` of the training queries' best-domain probability, so about
    that fraction of training queries would be sent to the general prefix only; 0 disables it. The
    default 0.05 abstained on 56% of an unseen collection's test queries and 11% of known ones
    (leave-one-out over the seven collections, benchmarks/quality/router_input.py).
    """
    reps = reps.float()
    n_dom = len(domains)
    config = RouterConfig(
        domains=list(domains), input=input, input_dim=reps.shape[1], temperature=temperature, backbone=backbone or {}
    )
    router = Router(config)
    with torch.no_grad():
        router.center.copy_(reps.mean(0))
    if n_dom > 1:
        counts = torch.bincount(labels, minlength=n_dom).float().clamp(min=1)
        class_weight = counts.sum() / (n_dom * counts)
        torch.manual_seed(seed)
        opt = torch.optim.Adam([router.weight, router.bias], lr=lr, weight_decay=weight_decay)
        x = (reps - router.center) / (reps - router.center).norm(dim=-1).mean()
        for _ in range(epochs):
            opt.zero_grad()
            loss = F.cross_entropy(F.linear(x, router.weight, router.bias), labels, weight=class_weight)
            loss.backward()
            opt.step()
        logger.info("router fit: final loss %.4f", loss.item())
        with torch.no_grad():  # fold the input scale into the weights so raw reps can be fed
            router.weight.div_((reps - router.center).norm(dim=-1).mean())
    if abstain_quantile > 0 and n_dom > 1:
        with torch.no_grad():
            threshold = float(torch.quantile(router.confidence(reps), abstain_quantile))
        router.config = RouterConfig(**{**config.to_dict(), "abstain_threshold": threshold})
    return router


def fit_knn_router(
    reps: torch.Tensor, gains: torch.Tensor, domains: Sequence[str], input: str = "tokens", backbone: dict[str, Any] | None = None,
    k: int = 16, margin: float = 0.02,
) -> Router:
    """A knn router over training queries ``reps`` (N, dim) with each module's nDCG@10 gain over the
    general prefix on each of them (``gains``, (N, len(domains))). Defaults chosen on held-out queries
    of the seven collections (benchmarks/quality/quality_lab.py)."""
    reps, gains = reps.float(), gains.float()
    config = RouterConfig(
        domains=list(domains), input=input, input_dim=reps.shape[1], backbone=backbone or {}, kind="knn", k=k, margin=margin,
        examples=reps.shape[0],
    )
    router = Router(config)
    with torch.no_grad():
        router.center.copy_(reps.mean(0))
        router.keys.copy_(F.normalize(reps - router.center, dim=-1))
        router.gains.copy_(gains)
    return router
