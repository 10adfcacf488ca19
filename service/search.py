"""Search an index with the live routed encoder, dense or hybrid (BM25 fused in)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ddr.errors import UsageError
from ddr.registry import IndexRecord, Registry

from . import live
from .indexing import LEXICAL_FOLDER, StaleIndexError, check_fresh, pick_index

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


def search(
    reg: Registry, queries: list[str], *, index_name: str | None = None, route: str = "topk", domains: tuple[str, ...] = (), k: int = 10,
    backbone: str | None = None, hybrid: bool = False, lexical_weight: float | str = 0.5,
) -> tuple[IndexRecord, list[SearchResult]]:
    """The top ``k`` documents per query; ``domains`` routes by prior to those domains instead of ``route``.

    ``hybrid`` fuses BM25 in (min-max convex fusion) at ``lexical_weight``: a number in [0, 1], or
    ``"routed"`` for the weight the router holds for each query's domain.
    """
    from ddr.modules import Route
    from ddr.retrieval import index as faiss_index

    record = pick_index(reg, index_name)
    state = live.resolve(reg)
    check_fresh(record, state)
    encoder = live.load_encoder(reg, state, backbone=backbone)
    if encoder.backbone.spec.weights_sha256 != record.backbone_sha256:
        raise StaleIndexError(f"index {record.name!r} was built on another backbone than {encoder.backbone.spec.name}; rebuild it or pass --backbone")
    chosen = Route.prior(list(domains)) if domains else Route.parse(route)
    if chosen.needs_router and encoder.router is None:
        chosen = Route.parse("none")  # nothing to route to yet: general prefix only
    with tempfile.TemporaryDirectory(prefix="ddr-index-") as tmp:
        folder = reg.export_index(record, Path(tmp) / "index")
        loaded = faiss_index.load(folder)
        lexical = _lexical(record, folder) if hybrid else None
    emb, weights = encoder.encode_queries(queries, route=chosen, return_weights=True)
    scores, doc_ids = loaded.search(emb.numpy(), max(k, DEPTH) if hybrid else k)
    dense = [dict(zip(ids, (float(s) for s in row))) for ids, row in zip(doc_ids, scores)]
    routed = [{n: round(float(x), 4) for n, x in zip(encoder.domains, w) if x > 0} for w in weights]
    fused_weights = [None] * len(queries)
    if lexical is not None:
        fused_weights = _weights(encoder.router, routed, lexical_weight)
        dense = _fuse(dense, lexical.run(loaded.ids, [str(i) for i in range(len(queries))], queries, DEPTH), fused_weights, k)
    titles = dict(zip(loaded.ids, loaded.titles))
    results = []
    for q, hits, w, lw in zip(queries, dense, routed, fused_weights):
        ranked = sorted(hits.items(), key=lambda x: (-x[1], x[0]))[:k]
        results.append(SearchResult(q, [(d, s, titles.get(d, "")) for d, s in ranked], w, lw))
    return record, results


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
