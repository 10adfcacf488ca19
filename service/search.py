"""Search an index with the live routed encoder."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ddr.registry import IndexRecord, Registry

from . import live
from .indexing import StaleIndexError, check_fresh, pick_index


@dataclass
class SearchResult:
    query: str
    hits: list[tuple[str, float, str]]  # (document id, score, title)
    weights: dict[str, float]  # the router's (or the caller's) domain weights for this query


def search(
    reg: Registry, queries: list[str], *, index_name: str | None = None, route: str = "topk", domains: tuple[str, ...] = (), k: int = 10,
    backbone: str | None = None,
) -> tuple[IndexRecord, list[SearchResult]]:
    """The top ``k`` documents per query; ``domains`` routes by prior to those domains instead of ``route``."""
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
        loaded = faiss_index.load(reg.export_index(record, Path(tmp) / "index"))
    emb, weights = encoder.encode_queries(queries, route=chosen, return_weights=True)
    scores, doc_ids = loaded.search(emb.numpy(), k)
    titles = dict(zip(loaded.ids, loaded.titles))
    results = []
    for q, row_scores, row_ids, w in zip(queries, scores, doc_ids, weights):
        hits = [(d, float(s), titles.get(d, "")) for d, s in zip(row_ids, row_scores)]
        results.append(SearchResult(q, hits, {n: round(float(x), 4) for n, x in zip(encoder.domains, w) if x > 0}))
    return record, results


def results_json(record: IndexRecord, results: list[SearchResult]) -> str:
    return json.dumps(
        {
            "index": f"{record.name}@{record.version}",
            "results": [
                {"query": r.query, "router_weights": r.weights, "hits": [{"id": d, "score": s, "title": t} for d, s, t in r.hits]}
                for r in results
            ],
        },
        indent=2,
    )
