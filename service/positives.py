"""Which test queries a domain module has, in effect, seen: the split ``evaluate --by-positives`` reports.

A domain module trains its query side against its training queries' judged documents (its training
positives). A test query whose relevant documents include one of them asks about a document the
module was pulled towards; the others ask about documents it never saw, which is what every document
a growing corpus adds will be. Averages over all test queries hide the second case whenever most
test queries share a document with training (36-100 % of them on the seven shared collections), so
evaluate can report the two groups apart. A module version records its training positives in its
replay set (the training queries' judgements, stored with the version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ddr.registry import ModuleVersion, Registry

SEEN, UNSEEN = "seen", "unseen"
LABELS = {SEEN: "relevant documents were training positives", UNSEEN: "relevant documents were not training positives"}


def training_positives(reg: Registry, modules: Iterable[ModuleVersion]) -> tuple[set[str], list[str]]:
    """The documents judged relevant to any training query of ``modules`` (union), and the refs of the
    modules that carry no replay set (their positives are unknown)."""
    from .domain_data import read_replay

    docs: set[str] = set()
    unknown = []
    for mv in modules:
        replay = read_replay(reg, mv)
        if replay is None:
            unknown.append(mv.ref)
            continue
        train = replay["train"]["qrels"]
        docs.update(d for judged in train.values() for d, grade in judged.items() if grade > 0)
    return docs, unknown


def split_queries(qrels: Mapping[str, Mapping[str, int]], query_ids: Sequence[str], positives: set[str]) -> dict[str, list[str]]:
    """``query_ids`` split by whether any of their relevant documents is in ``positives``."""
    seen = [q for q in query_ids if any(g > 0 and d in positives for d, g in qrels.get(q, {}).items())]
    chosen = set(seen)
    return {SEEN: seen, UNSEEN: [q for q in query_ids if q not in chosen]}


def score_groups(qrels: Mapping[str, Mapping[str, int]], runs: Mapping[str, Mapping[str, Mapping[str, float]]],
                 groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """Every system's metrics on each group of queries: {group: {"queries": n, "systems": {name: metrics}}}."""
    from ddr.retrieval.metrics import evaluate

    out: dict[str, dict] = {}
    for group, ids in groups.items():
        sub = {q: dict(qrels[q]) for q in ids}
        systems = {name: evaluate(sub, {q: dict(run.get(q, {})) for q in ids}) for name, run in runs.items()} if ids else {}
        out[group] = {"queries": len(ids), "systems": systems}
    return out
