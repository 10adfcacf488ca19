"""Training configurations, importable without torch (the CLI reads its defaults from them).

Each default lives here once; the CLI's options and the saved ``train_config`` of every version
come from these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ddr.modules.config import DEFAULT_PREFIX_LENGTH


@dataclass(frozen=True)
class DomainTrainConfig:
    """Query-side training of one domain prefix against cached passages.

    Defaults chosen on the held-out queries of all seven collections (benchmarks/recipe_sweep.py,
    mean over collections, dense / hybrid held-out nDCG@10): 30 epochs with patience 5 (52.83 / 55.64)
    beat the earlier 10 epochs with patience 3 (52.11 / 55.10), P=32 (52.73 / 54.96), lr 2e-2
    (52.34 / 53.81), temperature 0.1 (50.25 / 54.48) and training against the BM25-fused score
    (48.03 / 55.39 at weight 0.5 with 30 epochs).
    """

    prefix_length: int = DEFAULT_PREFIX_LENGTH
    lr: float = 1e-2
    epochs: int = 30
    batch_size: int = 32
    temperature: float = 0.05
    patience: int = 5
    seed: int = 0
    query_max_length: int = 256
    lexical_weight: float = 0.0  # > 0: train against the score fused with BM25 at this weight (hybrid search)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GeneralTrainConfig:
    """Phase 1: the general prefix, passages in the loop, one mined hard negative per query."""

    prefix_length: int = DEFAULT_PREFIX_LENGTH
    lr: float = 5e-3
    epochs: int = 1
    batch_size: int = 16
    temperature: float = 0.05
    seed: int = 0
    passage_max_length: int = 128
    query_max_length: int = 128
    max_steps: int = 0
    mine_from: int = 5
    mine_to: int = 30
    per_collection: int = 0  # > 0: every collection contributes exactly this many triples (sampled), so none dominates
    title_pairs: int = 0  # > 0: up to this many (title -> text) pairs per collection whose documents have titles

    def to_dict(self) -> dict:
        return asdict(self)


def default(cls: type, name: str) -> Any:
    """The default of field ``name`` of a config class (for CLI options)."""
    return next(f.default for f in fields(cls) if f.name == name)
