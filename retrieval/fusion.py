"""Hybrid retrieval: fuse a lexical (BM25) run with a dense run, the way search engines offer it.

Two rules, both over each side's top-k only:

- **convex** (the default; Elasticsearch's linear retriever with a min-max normaliser, OpenSearch's
  normalisation processor, Weaviate's ``alpha``): per query, each side's scores are min-max
  normalised to [0, 1] and combined as ``(1 - w) * dense + w * lexical``; a document one side did not
  return gets 0 from that side. ``w`` is the *lexical weight*: 0 is dense only, 1 is BM25 only.
- **rrf** (reciprocal rank fusion, ``k = 60``): ``sum 1 / (k + rank)`` over the sides.

A run is ``{query id: {document id: score}}``. ``weights`` may give each query its own lexical weight
(ddr's router picks one per query: the routed domain's, or the abstention weight).
"""

from __future__ import annotations

from collections.abc import Mapping

Run = dict[str, dict[str, float]]
RRF_K = 60


def _minmax(scores: Mapping[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi <= lo:
        return {d: 1.0 for d in scores}
    return {d: (s - lo) / (hi - lo) for d, s in scores.items()}


def convex(dense: Run, lexical: Run, weight: float | Mapping[str, float] = 0.5, k: int | None = None) -> Run:
    """Min-max normalised convex fusion; ``weight`` is the lexical weight (one for all, or per query)."""
    out: Run = {}
    for q in dense.keys() | lexical.keys():
        w = weight[q] if isinstance(weight, Mapping) else weight
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"lexical weight must be in [0, 1], got {w}")
        d, lx = _minmax(dense.get(q, {})), _minmax(lexical.get(q, {}))
        fused = {doc: (1 - w) * d.get(doc, 0.0) + w * lx.get(doc, 0.0) for doc in d.keys() | lx.keys()}
        out[q] = _top(fused, k)
    return out


def rrf(*runs: Run, k: int = RRF_K, depth: int | None = None) -> Run:
    """Reciprocal rank fusion of any number of runs."""
    out: Run = {}
    for q in set().union(*(r.keys() for r in runs)):
        fused: dict[str, float] = {}
        for run in runs:
            ranked = sorted(run.get(q, {}).items(), key=lambda x: (-x[1], x[0]))
            for rank, (doc, _) in enumerate(ranked, start=1):
                fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
        out[q] = _top(fused, depth)
    return out


def _top(scores: dict[str, float], k: int | None) -> dict[str, float]:
    ranked = sorted(scores.items(), key=lambda x: (-x[1], x[0]))
    return dict(ranked[:k] if k else ranked)


WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(21))


def fit_weight(dense: Run, lexical: Run, qrels: Mapping[str, Mapping[str, int]], grid: tuple[float, ...] = WEIGHT_GRID) -> tuple[float, float]:
    """The lexical weight that maximises mean nDCG@10 on judged queries; returns (weight, nDCG@10).

    Ties go to the weight closest to 0.5 (the engines' default), so a flat curve on a handful of
    held-out queries does not push the weight to an extreme.
    """
    from .metrics import evaluate

    scored = [(evaluate(qrels, convex(dense, lexical, w))["nDCG@10"], -abs(w - 0.5), w) for w in grid]
    best = max(scored)
    return best[2], best[0]
