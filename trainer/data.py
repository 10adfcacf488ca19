"""Training and held-out query sets for one collection.

The held-out set is the collection's ``dev`` split where it has one, else a deterministic slice of
the train split that the trainer never trains on (every fifth query by sorted id, at least one).
The test split is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class QuerySet:
    """Queries with their graded judgements (doc id -> grade >= 1)."""

    ids: list[str]
    texts: list[str]
    qrels: dict[str, dict[str, int]]

    def __len__(self) -> int:
        return len(self.ids)

    def to_dict(self) -> dict:
        return {"ids": self.ids, "texts": self.texts, "qrels": self.qrels}

    @classmethod
    def from_dict(cls, data: dict) -> QuerySet:
        return cls(list(data["ids"]), list(data["texts"]), {q: dict(d) for q, d in data["qrels"].items()})


def _subset(queries: dict[str, str], qrels: dict[str, dict[str, int]], ids: list[str]) -> QuerySet:
    keep = [q for q in ids if any(g > 0 for g in qrels.get(q, {}).values())]
    return QuerySet(keep, [queries[q] for q in keep], {q: {d: g for d, g in qrels[q].items() if g > 0} for q in keep})


def _sort_key(qid: str):
    return (0, int(qid), "") if qid.isdigit() else (1, 0, qid)


def train_and_heldout(folder: str | Path, heldout_every: int = 5) -> tuple[QuerySet, QuerySet, str]:
    """(train, held-out, where the held-out set came from)."""
    from ddr.retrieval.beir import load_collection

    root = Path(folder)
    train = load_collection(root, "train")
    ids = sorted(train.qrels, key=_sort_key)
    if (root / "qrels" / "dev.tsv").is_file():
        dev = load_collection(root, "dev")
        return _subset(train.queries, train.qrels, ids), _subset(dev.queries, dev.qrels, sorted(dev.qrels, key=_sort_key)), "dev"
    held = ids[heldout_every - 1 :: heldout_every] or ids[:1]
    rest = [q for q in ids if q not in set(held)]
    return _subset(train.queries, train.qrels, rest), _subset(train.queries, train.qrels, held), f"every {heldout_every}th train query"
