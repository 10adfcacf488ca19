"""Search an index with the live routed encoder, dense or hybrid (BM25 fused in)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddr.errors import UsageError
from ddr.registry import IndexRecord, Registry

from .indexing import LEXICAL_FOLDER, StaleIndexError

if TYPE_CHECKING:  # heavy: torch, faiss, bm25s (names for hints only)
    import numpy as np
    import torch

    from ddr.modules import DDREncoder, Route, Router
    from ddr.retrieval.bm25 import LexicalIndex
    from ddr.retrieval.index import LoadedIndex

DEPTH = 100  # each side's candidates before fusion
ROUTED = "routed"  # lexical weight: the one the router holds for the domain each query goes to


@dataclass
class SearchResult:
    query: str
    hits: list[tuple[str, float, str]]  # (document id, score, title)
    weights: dict[str, float]  # the router's (or the caller's) domain weights for this query
    lexical_weight: float | None = field(default=None)  # hybrid: BM25's weight in this query's fusion

    def to_json(self) -> dict[str, Any]:
        """This query's answer as JSON (the CLI's ``search --json`` and the server's ``/search`` both print this)."""
        return {"query": self.query, "router_weights": self.weights,
                **({"lexical_weight": self.lexical_weight} if self.lexical_weight is not None else {}),
                "hits": [{"id": d, "score": s, "title": t} for d, s, t in self.hits]}


def router_weights(domains: Sequence[str], rows: torch.Tensor) -> list[dict[str, float]]:
    """Per query, the domains the router weighted (> 0) and their weights, rounded to 4 places: the one
    form router weights leave the library in (``System.encode_queries``, search results, the server)."""
    return [{n: round(float(x), 4) for n, x in zip(domains, row) if x > 0} for row in rows]


def check_lexical_weight(value: float | str) -> float | str:
    """BM25's weight as given: a number in [0, 1], or ``'routed'``; anything else is a UsageError."""
    if value == ROUTED:
        return ROUTED
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"lexical weight must be a number in [0, 1] or {ROUTED!r}, got {value!r}") from None
    if not 0 <= w <= 1:
        raise UsageError(f"lexical weight must be in [0, 1], got {w}")
    return w


def lexical_weights(router: Router | None, weights: Sequence[dict[str, float]], default: float = 0.5) -> list[float]:
    """Per query, BM25's weight: the routed domains' weights (a weighted mean; top-1 gives the domain's
    own), the router's abstention weight where no domain was chosen, ``default`` without a router."""
    if router is None or not router.config.lexical_weights:
        return [default if router is None else router.config.lexical_weight] * len(weights)
    per_domain = dict(zip(router.domains, router.config.lexical_weights))
    out = []
    for row in weights:
        chosen = {d: float(w) for d, w in row.items() if w > 0}
        total = sum(chosen.values())
        out.append(sum(w * per_domain.get(d, default) for d, w in chosen.items()) / total if total else router.config.lexical_weight)
    return out


@dataclass
class OpenIndex:
    """An index loaded for searching: the faiss side, its ids and titles, and (for hybrid) the BM25 side."""

    record: IndexRecord
    dense: LoadedIndex
    lexical: LexicalIndex | None  # loaded when asked for

    @property
    def titles(self) -> dict[str, str]:
        return dict(zip(self.dense.ids, self.dense.titles))


def open_index(reg: Registry, record: IndexRecord, *, lexical: bool = True) -> OpenIndex:
    """Load an index version's files (verified) into memory; ``lexical`` loads its BM25 side where it has one."""
    from ddr.retrieval import index as faiss_index

    with tempfile.TemporaryDirectory(prefix="ddr-index-") as tmp:
        folder = reg.export_index(record, Path(tmp) / "index")
        loaded = faiss_index.load(folder)
        side = None
        if lexical and (folder / LEXICAL_FOLDER).is_dir():
            side = _lexical(record, folder)
    return OpenIndex(record, loaded, side)


def check_backbone(encoder: DDREncoder, record: IndexRecord) -> None:
    if encoder.backbone.spec.weights_sha256 != record.backbone_sha256:
        raise StaleIndexError(f"index {record.name!r} was built on another backbone than {encoder.backbone.spec.name}; rebuild it or pass --backbone")


def resolve_route(encoder: DDREncoder, route: str = "topk", domains: Sequence[str] = ()) -> Route:
    """The Route for ``route`` (or prior over ``domains``); routes needing a router fall back to 'none' without one."""
    from ddr.modules import Route

    unknown = [d for d in domains if d not in encoder.domains]
    if unknown:
        raise UsageError(f"unknown domain {unknown[0]!r}; live: {', '.join(encoder.domains) or 'none'}")
    chosen = Route.prior(list(domains)) if domains else Route.parse(route)
    if chosen.needs_router and encoder.router is None:
        chosen = Route.parse("none")  # nothing to route to yet: general prefix only
    return chosen


def rank(encoder: DDREncoder, opened: OpenIndex, queries: list[str], emb: np.ndarray, routed: Sequence[dict[str, float]], *, k: int = 10,
         hybrid: bool = False, lexical_weight: float | str = 0.5) -> list[SearchResult]:
    """Rank encoded queries against an open index: dense top ``k``, or fused with BM25.

    ``routed``: each query's router weights as :func:`router_weights` gives them (they pick the routed lexical weight).
    """
    if hybrid and opened.lexical is None:
        raise UsageError(f"index {opened.record.name!r} has no BM25 side (built before hybrid search existed); rebuild it with index build")
    scores, doc_ids = opened.dense.search(emb, max(k, DEPTH) if hybrid else k)
    dense = [dict(zip(ids, (float(s) for s in row))) for ids, row in zip(doc_ids, scores)]
    fused_weights = [None] * len(queries)
    if hybrid:
        fused_weights = _weights(encoder.router, routed, lexical_weight)
        dense = _fuse(dense, opened.lexical.run(opened.dense.ids, [str(i) for i in range(len(queries))], queries, DEPTH), fused_weights, k)
    titles = opened.titles
    results = []
    for q, hits, w, lw in zip(queries, dense, routed, fused_weights):
        ranked = sorted(hits.items(), key=_best_first)[:k]
        results.append(SearchResult(q, [(d, s, titles.get(d, "")) for d, s in ranked], w, lw))
    return results


def _best_first(hit: tuple[str, float]) -> tuple[float, str]:
    """Sort key: higher score first, ties by document id."""
    return -hit[1], hit[0]


def _lexical(record: IndexRecord, folder: Path) -> LexicalIndex:
    from ddr.retrieval.bm25 import LexicalIndex

    if not (folder / LEXICAL_FOLDER).is_dir():
        raise UsageError(f"index {record.name!r} has no BM25 side (built before hybrid search existed); rebuild it with index build")
    return LexicalIndex.load(folder / LEXICAL_FOLDER)


def _weights(router: Router | None, routed: Sequence[dict[str, float]], lexical_weight: float | str) -> list[float]:
    w = check_lexical_weight(lexical_weight)
    if w == ROUTED:
        return [round(x, 4) for x in lexical_weights(router, routed)]
    return [w] * len(routed)


def _fuse(dense: Sequence[dict[str, float]], lexical_run: dict[str, dict[str, float]], weights: list[float], k: int) -> list[dict[str, float]]:
    from ddr.retrieval.fusion import convex

    dense_run = {str(i): hits for i, hits in enumerate(dense)}
    fused = convex(dense_run, lexical_run, {str(i): w for i, w in enumerate(weights)}, k)
    return [fused.get(str(i), {}) for i in range(len(dense))]


def results_dict(record: IndexRecord, results: Sequence[SearchResult]) -> dict[str, Any]:
    """The index searched and every query's answer (``SearchResult.to_json``)."""
    return {"index": f"{record.name}@{record.version}", "results": [r.to_json() for r in results]}


def results_json(record: IndexRecord, results: Sequence[SearchResult]) -> str:
    return json.dumps(results_dict(record, results), indent=2)
