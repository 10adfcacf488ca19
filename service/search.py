"""Search an index with the live routed encoder, dense or hybrid (BM25 fused in)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ddr.errors import UsageError
from ddr.registry import IndexRecord, Registry

from .indexing import LEXICAL_FOLDER, StaleIndexError

DEPTH = 100  # each side's candidates before fusion
ROUTED = "routed"  # lexical weight: the one the router holds for the domain each query goes to


@dataclass
class SearchResult:
    query: str
    hits: list[tuple[str, float, str]]  # (document id, score, title)
    weights: dict[str, float]  # the router's (or the caller's) domain weights for this query
    lexical_weight: float | None = field(default=None)  # hybrid: BM25's weight in this query's fusion


def lexical_weights(router, weights, default: float = 0.5) -> list[float]:
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
    dense: object  # ddr.retrieval.index.LoadedIndex
    lexical: object | None  # ddr.retrieval.bm25.LexicalIndex, loaded when asked for

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


def check_backbone(encoder, record: IndexRecord) -> None:
    if encoder.backbone.spec.weights_sha256 != record.backbone_sha256:
        raise StaleIndexError(f"index {record.name!r} was built on another backbone than {encoder.backbone.spec.name}; rebuild it or pass --backbone")


def resolve_route(encoder, route: str = "topk", domains: Sequence[str] = ()):
    """The Route for ``route`` (or prior over ``domains``); routes needing a router fall back to 'none' without one."""
    from ddr.modules import Route

    unknown = [d for d in domains if d not in encoder.domains]
    if unknown:
        raise UsageError(f"unknown domain {unknown[0]!r}; live: {', '.join(encoder.domains) or 'none'}")
    chosen = Route.prior(list(domains)) if domains else Route.parse(route)
    if chosen.needs_router and encoder.router is None:
        chosen = Route.parse("none")  # nothing to route to yet: general prefix only
    return chosen


def rank(encoder, opened: OpenIndex, queries: list[str], emb, weights, *, k: int = 10, hybrid: bool = False,
         lexical_weight: float | str = 0.5) -> list[SearchResult]:
    """Rank encoded queries against an open index: dense top ``k``, or fused with BM25."""
    if hybrid and opened.lexical is None:
        raise UsageError(f"index {opened.record.name!r} has no BM25 side (built before hybrid search existed); rebuild it with index build")
    scores, doc_ids = opened.dense.search(emb, max(k, DEPTH) if hybrid else k)
    dense = [dict(zip(ids, (float(s) for s in row))) for ids, row in zip(doc_ids, scores)]
    routed = [{n: round(float(x), 4) for n, x in zip(encoder.domains, w) if x > 0} for w in weights]
    fused_weights = [None] * len(queries)
    if hybrid:
        fused_weights = _weights(encoder.router, routed, lexical_weight)
        dense = _fuse(dense, opened.lexical.run(opened.dense.ids, [str(i) for i in range(len(queries))], queries, DEPTH), fused_weights, k)
    titles = opened.titles
    results = []
    for q, hits, w, lw in zip(queries, dense, routed, fused_weights):
        ranked = sorted(hits.items(), key=lambda x: (-x[1], x[0]))[:k]
        results.append(SearchResult(q, [(d, s, titles.get(d, "")) for d, s in ranked], w, lw))
    return results


def _lexical(record: IndexRecord, folder: Path):
    from ddr.retrieval.bm25 import LexicalIndex

    if not (folder / LEXICAL_FOLDER).is_dir():
        raise UsageError(f"index {record.name!r} has no BM25 side (built before hybrid search existed); rebuild it with index build")
    return LexicalIndex.load(folder / LEXICAL_FOLDER)


def _weights(router, routed: list[dict[str, float]], lexical_weight: float | str) -> list[float]:
    if lexical_weight == ROUTED:
        return [round(w, 4) for w in lexical_weights(router, routed)]
    try:
        w = float(lexical_weight)
    except (TypeError, ValueError):
        raise UsageError(f"lexical weight must be a number in [0, 1] or {ROUTED!r}, got {lexical_weight!r}") from None
    if not 0 <= w <= 1:
        raise UsageError(f"lexical weight must be in [0, 1], got {w}")
    return [w] * len(routed)


def _fuse(dense: Sequence[dict[str, float]], lexical_run: dict[str, dict[str, float]], weights: list[float], k: int) -> list[dict[str, float]]:
    from ddr.retrieval.fusion import convex

    dense_run = {str(i): hits for i, hits in enumerate(dense)}
    fused = convex(dense_run, lexical_run, {str(i): w for i, w in enumerate(weights)}, k)
    return [fused.get(str(i), {}) for i in range(len(dense))]


def results_json(record: IndexRecord, results: list[SearchResult]) -> str:
    return json.dumps(
        {
            "index": f"{record.name}@{record.version}",
            "results": [
                {"query": r.query, "router_weights": r.weights, **({"lexical_weight": r.lexical_weight} if r.lexical_weight is not None else {}),
                 "hits": [{"id": d, "score": s, "title": t} for d, s, t in r.hits]}
                for r in results
            ],
        },
        indent=2,
    )
