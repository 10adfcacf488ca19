"""Fitting the router over the live domains (add-domain, update-domain, retrain-router).

Two kinds (see :mod:`ddr.modules.router`): ``knn`` (the default) keeps every live domain's training
queries with each module's nDCG@10 gain over the general prefix on them, measured here against
each domain's passages (the whole new corpus, the earlier domains' stored gate data); ``linear`` is
a domain classifier fitted on which collection each training query came from.

The router also carries a lexical weight per domain for hybrid search, fitted on the domain's
held-out queries when it is added (shrunk toward the engines' 0.5 by the held-out set's size: on
a handful of queries a fitted weight is mostly noise) and kept from the router before for domains
that were already live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from ddr.modules.config import DEFAULT_ROUTER_KIND as DEFAULT_KIND
from ddr.modules.config import ROUTER_KINDS as KINDS

from .domain_data import DomainData

if TYPE_CHECKING:
    from ddr.modules import DDREncoder, Router

NEUTRAL_WEIGHT = 0.5  # the engines' default lexical weight; also the abstention weight
SHRINK_QUERIES = 100  # a fitted weight counts n / (n + this) against the neutral one


def representations(encoder: DDREncoder, texts: list[str]) -> torch.Tensor:
    """The router's input for ``texts``: the mean input word embedding (no transformer pass)."""
    batch = encoder.tokenize(texts, encoder.config.query_max_length)
    with torch.no_grad():
        return encoder.token_mean(batch["input_ids"], batch["attention_mask"])


def utility(modules: DDREncoder, sets: list[DomainData]) -> torch.Tensor:
    """(all training queries, modules): each module's nDCG@10 gain over the general prefix on each query,
    against the query's own domain's passages. ``modules`` is an encoder holding the domain modules.
    A module's gain on its own training queries is the out-of-fold one where the domain has it (a module
    scores its training queries better than any query it will serve, which made the router route too often)."""
    from ddr.retrieval.scoring import per_query_ndcg

    def scores(d: DomainData, route: str) -> torch.Tensor:
        got = per_query_ndcg(modules.encode_queries(d.train.texts, route=route), d.passages, d.doc_ids, d.train)
        return torch.tensor([got[q] for q in d.train.ids])

    rows = []
    for d in sets:
        base = scores(d, "none")
        columns = []
        for m in modules.domains:
            if m == d.name and d.oof_gain is not None:  # its own training queries: out of fold, not what it memorised
                columns.append(torch.tensor([d.oof_gain[q] for q in d.train.ids]))
            else:
                columns.append(scores(d, f"prior:{m}") - base)
        rows.append(torch.stack(columns, dim=1))
    return torch.cat(rows)


def fit(encoder: DDREncoder, modules: DDREncoder, sets: list[DomainData], *, kind: str = DEFAULT_KIND) -> Router:
    """A router over ``modules.domains`` (one per set, same order), fitted on the sets' training queries."""
    from ddr.trainer.router import fit_knn_router, fit_router

    if kind not in KINDS:
        raise ValueError(f"router kind must be one of {KINDS}, got {kind!r}")
    reps = torch.cat([representations(encoder, d.train.texts) for d in sets])
    backbone = dict(encoder.backbone.spec.__dict__)
    names = [d.name for d in sets]
    if kind == "linear":
        labels = torch.cat([torch.full((len(d.train),), i) for i, d in enumerate(sets)])
        return fit_router(reps, labels, names, backbone=backbone)
    return fit_knn_router(reps, utility(modules, sets), names, backbone=backbone)


def with_lexical_weights(router: Router, previous: Router | None, fitted: Mapping[str, float] | None = None) -> Router:
    """``router`` carrying a lexical weight per domain: ``fitted``'s (a new domain's, as fitted), the previous
    router's for the others (the neutral weight where it had none), and the previous abstention weight.

    With nothing fitted and no weights on the previous router, ``router`` is left as it is: a router
    refitted over domains that never had lexical weights does not gain neutral ones."""
    old = dict(zip(previous.domains, previous.config.lexical_weights)) if previous is not None and previous.config.lexical_weights else {}
    fitted = dict(fitted or {})
    if not old and not fitted:
        return router
    weights = [fitted[name] if name in fitted else old.get(name, NEUTRAL_WEIGHT) for name in router.domains]
    router.config = replace(router.config, lexical_weights=weights, lexical_weight=previous.config.lexical_weight if previous else NEUTRAL_WEIGHT)
    return router


def fit_lexical_weight(candidate: DDREncoder, new: DomainData) -> tuple[float, float]:
    """The new domain's lexical weight on its held-out queries (prior routing, whole corpus), shrunk toward
    the neutral weight; returns (shrunk weight, weight as fitted)."""
    from ddr.retrieval.bm25 import LexicalIndex
    from ddr.retrieval.fusion import fit_weight
    from ddr.retrieval.scoring import rank

    dense = rank(candidate.encode_queries(new.heldout.texts, route=f"prior:{new.name}"), new.passages, new.doc_ids, new.heldout.ids)
    lexical = LexicalIndex.build(new.texts).run(new.doc_ids, new.heldout.ids, new.heldout.texts)
    fitted, _ = fit_weight(dense, lexical, new.heldout.qrels)
    n = len(new.heldout)
    return round(NEUTRAL_WEIGHT + (fitted - NEUTRAL_WEIGHT) * n / (n + SHRINK_QUERIES), 3), fitted
