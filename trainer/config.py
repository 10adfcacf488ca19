"""Training configurations, importable without torch (the CLI reads its defaults from them).

Each default lives here once; the CLI's options and the saved ``train_config`` of every version
come from these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ddr.modules.config import DEFAULT_PREFIX_LENGTH, MAX_PREFIX_LENGTH

SELECTIONS = ("heldout", "crossfit")
FOLD_BY = ("queries", "documents")


def option(help: str, *, low: float | None = None, high: float | None = None, flag: str | None = None,
           choices: tuple[str, ...] = ()) -> dict[str, Any]:
    """Field metadata that makes a config field a command-line option (the CLI generates it: flag, type,
    bounds or choices, default and help all come from the field; ``flag`` overrides ``--field-name``)."""
    return {"option": {"help": help, "low": low, "high": high, "flag": flag, "choices": choices}}


@dataclass(frozen=True)
class DomainTrainConfig:
    """Query-side training of one domain prefix against cached passages.

    Defaults chosen on the held-out queries of all seven collections (benchmarks/sweeps/recipe_sweep.py,
    mean over collections, dense / hybrid held-out nDCG@10): 30 epochs with patience 5 (52.83 / 55.64)
    beat the earlier 10 epochs with patience 3 (52.11 / 55.10), P=32 (52.73 / 54.96), lr 2e-2
    (52.34 / 53.81), temperature 0.1 (50.25 / 54.48) and training against the BM25-fused score
    (48.03 / 55.39 at weight 0.5 with 30 epochs).
    """

    prefix_length: int = field(default=DEFAULT_PREFIX_LENGTH, metadata=option("P: prefix vectors per layer (a new version keeps its parent's).",
                                                                               low=1, high=MAX_PREFIX_LENGTH))
    lr: float = field(default=1e-2, metadata=option("AdamW learning rate."))
    epochs: int = field(default=30, metadata=option("At most this many epochs (early stopping on held-out queries).", low=1, high=1000))
    batch_size: int = field(default=32, metadata=option("Queries per step.", low=1, high=4096))
    temperature: float = 0.05
    patience: int = 5
    seed: int = field(default=0, metadata=option("Seed (training is deterministic on CPU)."))
    query_max_length: int = 256
    lexical_weight: float = field(default=0.0, metadata=option("> 0: train against the score fused with BM25 at this weight (for hybrid search).",
                                                               low=0, high=1, flag="--train-lexical-weight"))
    keep_weight: float = field(default=0.0, metadata=option(
        "> 0: also keep the module's ranking of documents no training query judged close to general-only's "
        "(KL on pseudo-queries cut from those documents), at this weight.", low=0, high=100))
    selection: str = field(default="heldout", metadata=option(
        "How the epoch count is chosen. heldout: early stopping on the held-out queries (which then also judge the module); "
        "crossfit: out of fold over k folds of the training queries, then one run on all of them, so the held-out queries only judge.",
        choices=SELECTIONS))
    folds: int = field(default=3, metadata=option("Folds for --selection crossfit.", low=2, high=20))
    fold_by: str = field(default="queries", metadata=option(
        "How --selection crossfit splits the training queries: queries (round-robin), or documents (queries that share a judged "
        "document stay together, so the out-of-fold figure is about documents the module never trained on).", choices=FOLD_BY))
    pseudo_words: int = 12  # words per pseudo-query (a span of a document no training query judged)
    pseudo_count: int = 2048  # pseudo-queries drawn per training run (cycled through, one batch per step)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GeneralTrainConfig:
    """Phase 1: the general prefix, passages in the loop, one mined hard negative per query."""

    prefix_length: int = field(default=DEFAULT_PREFIX_LENGTH, metadata=option("P of a new general prefix.", low=1, high=MAX_PREFIX_LENGTH))
    lr: float = field(default=5e-3, metadata=option("AdamW learning rate."))
    epochs: int = field(default=1, metadata=option("Passes over the mined triples.", low=1, high=100))
    batch_size: int = field(default=16, metadata=option("Triples per step.", low=2, high=4096))
    temperature: float = 0.05
    seed: int = field(default=0, metadata=option("Seed."))
    passage_max_length: int = 128
    query_max_length: int = 128
    max_steps: int = field(default=0, metadata=option("Stop after this many steps (0: no limit).", low=0, high=10**7))
    mine_from: int = 5
    mine_to: int = 30
    per_collection: int = 0  # > 0: every collection contributes exactly this many triples (sampled), so none dominates
    title_pairs: int = 0  # > 0: up to this many (title -> text) pairs per collection whose documents have titles

    def to_dict(self) -> dict:
        return asdict(self)


def options_of(cls: type) -> list:
    """The fields of a config class that are command-line options, in declaration order."""
    return [f for f in fields(cls) if "option" in f.metadata]
