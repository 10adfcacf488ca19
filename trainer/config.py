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

    Defaults chosen on scifact's held-out queries (benchmarks/trainer_sweep.py): lr 1e-2 beat
    5e-3 and 2e-3 (best held-out nDCG@10 76.7 vs 73.7 and 72.3); P=32 at lr 5e-3 reached 75.1.
    """

    prefix_length: int = DEFAULT_PREFIX_LENGTH
    lr: float = 1e-2
    epochs: int = 10
    batch_size: int = 32
    temperature: float = 0.05
    patience: int = 3
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

    def to_dict(self) -> dict:
        return asdict(self)


def default(cls: type, name: str) -> Any:
    """The default of field ``name`` of a config class (for CLI options)."""
    return next(f.default for f in fields(cls) if f.name == name)
