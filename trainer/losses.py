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


def multi_positive_info_nce(queries: torch.Tensor, passages: torch.Tensor, positives: list[list[int]], temperature: float = 0.05) -> torch.Tensor:
    """InfoNCE where every judged passage of a query is a positive: ``positives[i]`` lists query i's
    positive columns of ``passages`` (typically a whole cached corpus, every other row a negative)."""
    logits = queries @ passages.T / temperature
    mask = torch.zeros_like(logits, dtype=torch.bool)
    for r, cols in enumerate(positives):
        mask[r, cols] = True
    return (torch.logsumexp(logits, -1) - torch.logsumexp(logits.masked_fill(~mask, float("-inf")), -1)).mean()
