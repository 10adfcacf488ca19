"""Routes: how a query picks its domain weights.

``none``   general prefix only;
``prior``  the caller names the domain(s), optionally with weights;
``topk``   the router's k best domains, weights renormalised to sum to 1. The default k=1: on
           held-out queries with two and three live domains (no abstention), mixing prefixes lost
           up to 0.63 points (top-2) and 0.58 (soft) against prior routing where top-1 lost 0.09
           (``benchmarks/sweeps/routing_sweep.py``, table in ``docs/benchmarks.md``);
``soft``   the router's full distribution;
``plain``  the bare backbone, no prefix at all (the baseline every claim is measured against).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch

from .errors import RoutingError

MODES = ("none", "prior", "topk", "soft", "plain")


@dataclass(frozen=True)
class Route:
    """One composition rule; rows of one batch may each carry their own."""

    mode: str = "none"
    domains: tuple[tuple[str, float], ...] = field(default=())
    k: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RoutingError(f"route must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "prior" and not self.domains:
            raise RoutingError("prior routing needs at least one domain name")
        if self.mode != "prior" and self.domains:
            raise RoutingError(f"domains are only given with prior routing, not {self.mode!r}")
        if self.k < 1:
            raise RoutingError(f"top-k routing needs k >= 1, got {self.k}")
        for name, weight in self.domains:
            if not math.isfinite(weight) or weight < 0:
                raise RoutingError(f"prior weight of domain {name!r} must be finite and >= 0, got {weight}")

    @classmethod
    def prior(cls, domains: str | Sequence[str] | Mapping[str, float]) -> Route:
        """Named domains: one name, several (equal weights), or a mapping name -> weight."""
        if isinstance(domains, str):
            domains = [domains]
        if isinstance(domains, Mapping):
            pairs = tuple((str(k), float(v)) for k, v in domains.items())
        else:
            names = list(domains)
            pairs = tuple((n, 1.0 / len(names)) for n in names) if names else ()
        return cls("prior", pairs)

    @classmethod
    def parse(cls, spec: str | Route) -> Route:
        """``none``, ``soft``, ``plain``, ``topk`` / ``topk:3``, or ``prior:a`` / ``prior:a=0.7,b=0.3``."""
        if isinstance(spec, Route):
            return spec
        head, _, rest = spec.partition(":")
        if head == "topk":
            try:
                return cls("topk", k=int(rest) if rest else 1)
            except ValueError:
                raise RoutingError(f"bad top-k route {spec!r}; use topk or topk:K") from None
        if head == "prior":
            items = [p for p in rest.split(",") if p]
            if any("=" in p for p in items):
                try:
                    return cls.prior({n: float(w) for n, w in (p.split("=", 1) for p in items)})
                except ValueError:
                    raise RoutingError(f"bad prior route {spec!r}; use prior:a=0.7,b=0.3") from None
            return cls.prior(items)
        if rest:
            raise RoutingError(f"route {head!r} takes no argument, got {spec!r}")
        return cls(head)

    @property
    def needs_router(self) -> bool:
        return self.mode in ("topk", "soft")


def prior_weights(route: Route, domains: Sequence[str]) -> torch.Tensor:
    """Weights over ``domains`` for a prior route; unknown names are an error, not a silent zero."""
    w = torch.zeros(len(domains))
    for name, weight in route.domains:
        if name not in domains:
            known = ", ".join(domains) or "none registered"
            raise RoutingError(f"unknown domain {name!r} (known: {known})")
        w[list(domains).index(name)] += weight
    return w


def topk_weights(probs: torch.Tensor, k: int) -> torch.Tensor:
    """Keep each row's k largest probabilities and renormalise them to sum to 1 (zero rows stay zero)."""
    if probs.shape[-1] == 0:
        return probs
    k = min(k, probs.shape[-1])
    values, idx = probs.topk(k, dim=-1)
    kept = torch.zeros_like(probs).scatter(-1, idx, values)
    total = kept.sum(-1, keepdim=True)
    return torch.where(total > 0, kept / total.clamp(min=1e-12), kept)
