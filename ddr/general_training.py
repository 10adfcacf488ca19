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

import torch

from ddr.errors import DataError, UsageError
from ddr.registry import ModuleVersion, Registry
from ddr.registry.aliases import set_alias

from . import active as live
from .indexing import passage_embeddings


@dataclass
class GeneralReport:
    rows: list[dict] = field(default_factory=list)
    module: ModuleVersion | None = None
    activated: bool = False
    reasons: list[str] = field(default_factory=list)
    steps: int = 0

    def table(self) -> str:
        lines = [f"{'collection':14s} {'before':>8s} {'after':>8s} {'delta':>8s}  (held-out nDCG@10 x 100, general prefix only)"]
        for r in self.rows:
            lines.append(f"{r['collection']:14s} {100 * r['before']:8.2f} {100 * r['after']:8.2f} {r['delta']:+8.2f}")
        lines.append(f"{self.module.ref if self.module else '?'}: " + ("live as general@production" if self.activated else "registered, not live"))
        lines += [f"  - {why}" for why in self.reasons]
        return "\n".join(lines)


def train_general(
    reg: Registry,
    data: Sequence[str],
    config=None,
    threshold: float = 0.5,
    force: bool = False,
    backbone: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> GeneralReport:
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.publish import publish_module
    from ddr.retrieval.beir import corpus_fingerprint, load_corpus
    from ddr.trainer.data import train_and_heldout
    from ddr.trainer.domain import rank_and_score
    from ddr.trainer.general import GeneralTrainConfig, mine_triples
    from ddr.trainer.general import train_general as fit

    if not data:
        raise UsageError("give at least one --data collection")
    config = config or GeneralTrainConfig()
    echo = echo or (lambda _m: None)
    for folder in data:
        if not Path(folder).is_dir():
            raise DataError(f"{folder}: no such data directory")
    # every collection's corpus, queries and qrels are read (and checked) before anything is encoded
    loaded = [(folder, load_corpus(Path(folder)), *train_and_heldout(folder)[:2]) for folder in data]
    state = live.resolve(reg)
    current = live.load_encoder(reg, state, backbone, with_domains=False)
    sets, triples = [], []
    for i, (folder, corpus, train, heldout) in enumerate(loaded):
        doc_ids = list(corpus)
        texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
        fp = corpus_fingerprint(corpus)
        emb, _ = passage_embeddings(reg, current, state.general_key, fp, texts, progress)
        index = {d: j for j, d in enumerate(doc_ids)}
        q_emb = current.encode_queries(train.texts, route="none")
        positives = [[index[d] for d in train.qrels[q] if d in index] for q in train.ids]
        triples += mine_triples(train.texts, positives, texts, torch.from_numpy(emb), q_emb, config, config.seed + i)
        sets.append((Path(folder).name, doc_ids, texts, torch.from_numpy(emb), heldout, fp))
    if not triples:
        raise UsageError("no training queries with judged passages in the given collections")

    if state.general is not None:
        module = PrefixModule.load_state(current.general)
    else:
        module = PrefixModule.create(current.backbone, "general", "general", config.prefix_length, seed=config.seed)
    trainer = DDREncoder(current.backbone, module, config=current.config)
    echo(f"training the general prefix on {len(triples)} (query, positive, hard negative) triples")
    result = fit(trainer, module, triples, config, progress=echo)

    report = GeneralReport(steps=result.steps)
    candidate = DDREncoder(current.backbone, result.module, config=current.config)
    with tempfile.TemporaryDirectory(prefix="ddr-general-") as tmp:
        # the candidate's passages go through the cache under its content key, so once it is
        # registered and live, add-domain and index build find them encoded already
        key = live.folder_key(result.module.save(Path(tmp) / "module"))
    for name, doc_ids, texts, before_p, heldout, fp in sets:
        before = rank_and_score(current.encode_queries(heldout.texts, route="none"), before_p, doc_ids, heldout)
        after_p = torch.from_numpy(passage_embeddings(reg, candidate, key, fp, texts, progress)[0])
        after = rank_and_score(candidate.encode_queries(heldout.texts, route="none"), after_p, doc_ids, heldout)
        report.rows.append({"collection": name, "before": before, "after": after, "delta": 100 * (after - before)})
        if 100 * (before - after) > threshold:
            report.reasons.append(f"{name}: dropped {100 * (before - after):.2f} points (> {threshold})")
    if sum(r["delta"] for r in report.rows) <= 0:
        report.reasons.append("no held-out gain on average")
    metrics = {
        "data": [str(Path(d).resolve()) for d in data],
        "heldout": {r["collection"]: r["after"] for r in report.rows},
        "steps": result.steps,
        "train": config.to_dict(),
    }
    report.module = publish_module(reg, result.module, metrics=metrics, parent=state.general_version)
    if state.domains:
        report.reasons.append("domains are live: retrain them against this version (update-domain) before it can go live")
    elif force or not report.reasons:
        set_alias(reg, report.module.ref, "production", reason="train-general: " + ("forced" if report.reasons else "gate passed"))
        report.activated = True
    return report
