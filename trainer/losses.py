"""Losses shared by the training phases."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(queries: torch.Tensor, passages: torch.Tensor, positives: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """InfoNCE over a candidate set: ``positives[i]`` is the column of query i's positive passage.

    ``passages`` holds every candidate (in-batch positives, mined hard negatives, or a cached
    corpus), so the same loss serves in-batch and whole-corpus negatives.
    """
    logits = queries @ passages.T / temperature
    return F.cross_entropy(logits, positives)


def multi_positive_info_nce(
    queries: torch.Tensor, passages: torch.Tensor, positives: list[list[int]], temperature: float = 0.05,
    lexical: torch.Tensor | None = None, lexical_weight: float = 0.0,
) -> torch.Tensor:
    """InfoNCE where every judged passage of a query is a positive: ``positives[i]`` lists query i's
    positive columns of ``passages`` (typically a whole cached corpus, every other row a negative).

    With ``lexical`` (the rows' BM25 scores over the same passages, each row scaled to [0, 1]), the
    score trained is the fused one, ``(1 - w) * dense + w * lexical``: the module learns what BM25
    does not already get right."""
    scores = queries @ passages.T
    if lexical is not None and lexical_weight > 0:
        scores = (1 - lexical_weight) * scores + lexical_weight * lexical
    logits = scores / temperature
    mask = torch.zeros_like(logits, dtype=torch.bool)
    for r, cols in enumerate(positives):
        mask[r, cols] = True
    return (torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~mask, float("-inf")), -1)).mean()


def keep_close(student: torch.Tensor, teacher: torch.Tensor, passages: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """KL(teacher || student) between two query embeddings' rankings of the whole corpus (softmax of
    the scores over ``passages``): 0 when the module ranks the corpus as the teacher (general-only) does."""
    t = F.log_softmax(teacher @ passages.T / temperature, -1)
    s = F.log_softmax(student @ passages.T / temperature, -1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")
