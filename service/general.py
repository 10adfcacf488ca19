"""train-general (phase 1): a new general-prefix version trained on the union of collections.

A general prefix changes passage embeddings, and every domain module was trained on top of the
general version it was added to. So a new general version goes live by itself only while no domain
is live (``general@production``); once domains exist it is registered, scored, and left for the
domains to be retrained against (``update-domain``), never swapped under them silently.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddr.errors import DataError, UsageError
from ddr.registry import ModuleVersion, Registry
from ddr.registry.aliases import Expected, current_target
from ddr.trainer.config import GeneralTrainConfig

from . import distributed, gate, live
from .cache import folder_key, passage_embeddings
from .publish import publish_module

if TYPE_CHECKING:  # torch stays off the CLI's start-up path
    import torch

    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.data import QuerySet
    from ddr.trainer.general import GeneralResult, Triple

Loaded = tuple[str, dict[str, dict[str, str]], "QuerySet", "QuerySet"]  # folder, corpus, train and held-out queries

DOMAINS_LIVE = "domains are live: retrain them against this version (update-domain) before it can go live"


@dataclass
class GeneralReport:
    scores: list[gate.Score] = field(default_factory=list)
    verdict: gate.Verdict = field(default_factory=lambda: gate.Verdict(True))
    module: ModuleVersion | None = None
    activated: bool = False
    steps: int = 0

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.verdict.reasons

    def table(self) -> str:
        lines = gate.table(self.scores, subject="collection", caption="held-out nDCG@10 x 100, general prefix only")
        lines.append(f"{self.module.ref if self.module else '?'}: " + ("live as general@production" if self.activated else "registered, not live"))
        lines += [f"  - {why}" for why in self.reasons]
        return "\n".join(lines)


@dataclass
class _Collection:
    name: str
    doc_ids: list[str]
    texts: list[str]
    passages: torch.Tensor  # under the live general prefix
    heldout: QuerySet
    fingerprint: str


@dataclass(frozen=True)
class GeneralRequest:
    """One train-general run (besides the registry and the collections)."""

    config: GeneralTrainConfig | None = None  # None: the defaults
    threshold: float = gate.DEFAULT_THRESHOLD
    force: bool = False
    backbone: str | None = None
    progress: bool = True
    echo: Callable[[str], None] | None = None
    dtype: str | None = None


def train_general(reg: Registry, data: Sequence[str], **options: Any) -> GeneralReport:
    """Train, score on every collection's held-out queries, register, gate, and activate while no domain is live.

    ``options``: the :class:`GeneralRequest` fields (config, threshold, force, backbone, progress, echo, dtype).
    """
    req = GeneralRequest(**options)
    config = req.config or GeneralTrainConfig()
    loaded = _read(data)
    with reg.blobs.verifying_once():
        state = live.resolve(reg)
        expected = current_target(reg, "general/general")
        current = live.load_encoder(reg, state, backbone=req.backbone, dtype=req.dtype, with_domains=False)
        collections, triples = _mine(reg, current, state, loaded, config, req.progress)
        result = _train(current, state, triples, config, req.echo)
        scores = _score(reg, current, result.module, collections, req.progress)
        verdict = gate.judge(scores, threshold=req.threshold, require_mean_gain=True)
        report = GeneralReport(scores, verdict, steps=result.steps)
        metrics = {"heldout": {s.name: s.after for s in scores}, "steps": result.steps}
        report.module = publish_module(
            reg, result.module, metrics=metrics, parent=state.general_version,
            data_paths=tuple(str(Path(d).resolve()) for d in data), train_config=config.to_dict(), backbone_source=current.backbone.source,
        )
        if state.domains:
            report.verdict = gate.Verdict(False, (*verdict.reasons, DOMAINS_LIVE))
        else:
            still_no_domain = {("router", "production"): state.router.version if state.router else None}
            report.activated = gate.activate(
                reg, report.module.ref, verdict, force=req.force, action="train-general", expect=Expected(expected, still_no_domain),
            )
    return report


def _read(data: Sequence[str]) -> list[Loaded]:
    """Every collection's corpus, train and held-out queries, checked before anything is encoded."""
    from ddr.retrieval.beir import load_corpus
    from ddr.trainer.data import train_and_heldout

    if not data:
        raise UsageError("give at least one --data collection")
    for folder in data:
        if not Path(folder).is_dir():
            raise DataError(f"{folder}: no such data directory")
    return [(folder, load_corpus(Path(folder)), *train_and_heldout(folder)[:2]) for folder in data]


def _mine(
    reg: Registry, current: DDREncoder, state: live.ActiveState, loaded: list[Loaded], config: GeneralTrainConfig, progress: bool,
) -> tuple[list[_Collection], list[Triple]]:
    """Passages under the live general prefix, and (query, positive, hard negative) triples per collection."""
    import torch

    from ddr.retrieval.beir import corpus_fingerprint
    from ddr.trainer.general import balance, mine_triples, title_pairs

    collections, triples = [], []
    for i, (folder, corpus, train, heldout) in enumerate(loaded):
        doc_ids = list(corpus)
        texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
        fp = corpus_fingerprint(corpus)
        emb = torch.from_numpy(passage_embeddings(reg, current, texts, general_key=state.general_key, corpus=fp, progress=progress)[0])
        index = {d: j for j, d in enumerate(doc_ids)}
        q_emb = current.encode_queries(train.texts, route="none")
        positives = [[index[d] for d in train.qrels[q] if d in index] for q in train.ids]
        mined = mine_triples(train.texts, positives, texts, emb, q_emb, config, config.seed + i)
        mined += title_pairs(list(corpus.values()), texts, emb, config.title_pairs, config.seed + i)
        triples += balance(mined, config.per_collection, config.seed + i)
        collections.append(_Collection(Path(folder).name, doc_ids, texts, emb, heldout, fp))
    if not triples:
        raise UsageError("no training queries with judged passages in the given collections")
    return collections, triples


def _train(
    current: DDREncoder, state: live.ActiveState, triples: list[Triple], config: GeneralTrainConfig, echo: Callable[[str], None] | None,
) -> GeneralResult:
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.general import train_general as fit

    if state.general is not None:
        module = PrefixModule.load_state(current.general)
    else:
        module = PrefixModule.create(current.backbone, "general", "general", config.prefix_length, seed=config.seed)
    trainer = DDREncoder(current.backbone, module, config=current.config)
    ddp = distributed.start_training(trainer, module, triples, config)  # under torchrun: every rank trains
    if echo:
        where = f" on {ddp} processes (DistributedDataParallel)" if ddp else ""
        echo(f"training the general prefix on {len(triples)} (query, positive, hard negative) triples{where}")
    return fit(trainer, module, triples, config, echo=echo, ddp=bool(ddp))


def _score(reg: Registry, current: DDREncoder, module: PrefixModule, collections: list[_Collection], progress: bool) -> list[gate.Score]:
    """Held-out nDCG@10 per collection, general prefix only, before and after (corpora re-encoded)."""
    import torch

    from ddr.modules import DDREncoder
    from ddr.retrieval.scoring import per_query_ndcg

    candidate = DDREncoder(current.backbone, module, config=current.config)
    with tempfile.TemporaryDirectory(prefix="ddr-general-") as tmp:
        # the candidate's passages go through the cache under its content key, so once it is
        # registered and live, add-domain and index build find them encoded already
        key = folder_key(module.save(Path(tmp) / "module"))
    scores = []
    for c in collections:
        before = per_query_ndcg(current.encode_queries(c.heldout.texts, route="none"), c.passages, c.doc_ids, c.heldout)
        after_p = torch.from_numpy(passage_embeddings(reg, candidate, c.texts, general_key=key, corpus=c.fingerprint, progress=progress)[0])
        after = per_query_ndcg(candidate.encode_queries(c.heldout.texts, route="none"), after_p, c.doc_ids, c.heldout)
        scores.append(gate.compare(c.name, [before[q] for q in c.heldout.ids], [after[q] for q in c.heldout.ids]))
    return scores
