"""Exact inner-product search with faiss, returning ranked (doc id, score) lists."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def search(
    passages: np.ndarray, passage_ids: Sequence[str], queries: np.ndarray, query_ids: Sequence[str], k: int = 100
) -> dict[str, dict[str, float]]:
    """Top-``k`` passages per query by inner product (cosine for normalised embeddings)."""
    import faiss

    index = faiss.IndexFlatIP(passages.shape[1])
    index.add(np.ascontiguousarray(passages, dtype=np.float32))
    scores, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(passage_ids)))
    run: dict[str, dict[str, float]] = {}
    for qid, row_scores, row_idx in zip(query_ids, scores, idx):
        run[qid] = {passage_ids[j]: float(s) for s, j in zip(row_scores, row_idx) if j >= 0}
    return run
