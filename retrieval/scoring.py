"""Exact dense scoring: the one top-k, runs built from it, and the nDCG@10 figures gates and evaluations compare.

Everything that ranks a query set against a matrix of passage embeddings by inner product goes
through :func:`top_k` (training's epoch choice, the gate, evaluation, the gate's passage pool, hard
negative mining and the benchmarks), so they all break ties and round the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

Run = dict[str, dict[str, float]]
CHUNK = 1024  # query rows scored at once: a (CHUNK, n_passages) float32 matrix at most


class Judged(Protocol):
    """A query set with judgements: ``ids`` in the order of the query rows, ``qrels`` by id."""

    ids: list[str]
    qrels: dict[str, dict[str, int]]


def _tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x).float()


def top_k(queries: torch.Tensor | np.ndarray, passages: torch.Tensor | np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(scores, rows) of the ``k`` best passages of every query by exact inner product, best first;
    ``k`` is capped at the number of passages."""
    q, p = _tensor(queries), _tensor(passages)
    k = min(k, p.shape[0])
    values, indices = [], []
    for start in range(0, q.shape[0], CHUNK):
        top = (q[start : start + CHUNK] @ p.T).topk(k, dim=-1)
        values.append(top.values)
        indices.append(top.indices)
    if not values:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    return torch.cat(values), torch.cat(indices)


def rank(queries: torch.Tensor | np.ndarray, passages: torch.Tensor | np.ndarray, doc_ids: Sequence[str], query_ids: Sequence[str], k: int = 100) -> Run:
    """The top ``k`` passages of every query (exact inner product), as a run."""
    values, indices = top_k(queries, passages, k)
    return {q: {doc_ids[j]: float(s) for s, j in zip(vals, idx)} for q, vals, idx in zip(query_ids, values.tolist(), indices.tolist())}


def rank_and_score(queries: torch.Tensor, passages: torch.Tensor, doc_ids: Sequence[str], qs: Judged, k: int = 100) -> float:
    """nDCG@10 of ``queries`` (rows of ``qs``) against ``passages``."""
    from .metrics import evaluate

    return evaluate(qs.qrels, rank(queries, passages, doc_ids, qs.ids, k))["nDCG@10"]


def per_query_ndcg(queries: torch.Tensor, passages: torch.Tensor, doc_ids: Sequence[str], qs: Judged, k: int = 100) -> dict[str, float]:
    """nDCG@10 of every query of ``qs`` (the paired figures a gate compares)."""
    from .metrics import per_query

    return per_query(qs.qrels, rank(queries, passages, doc_ids, qs.ids, k))

