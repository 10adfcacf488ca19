"""add-domain, update-domain, retrain-router: train, evaluate, gate, register, activate.

The gate keeps ``router@production`` where it is unless the candidate makes the new domain better
than general-only on its held-out queries and no earlier domain worse by more than ``threshold``
nDCG@10 points (under top-k routing, against the current production system). Candidates are
registered either way (module and router in one transaction), so a refused candidate can still be
inspected or activated by hand; ``force`` activates it regardless.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ddr.errors import DataError, UsageError
from ddr.registry import ModuleVersion, Registry
from ddr.registry.aliases import set_alias
from ddr.registry.store import ModuleSpec

from . import active as live
from .indexing import passage_embeddings

logger = logging.getLogger(__name__)
REPLAY_FILE = "replay.json"


@dataclass
class DomainData:
    name: str
    doc_ids: list[str]
    passages: torch.Tensor
    train: object
    heldout: object
    encoded: int = 0
    fingerprint: str = ""
    heldout_source: str = ""


@dataclass
class GateReport:
    rows: list[dict] = field(default_factory=list)
    activated: bool = False
    reasons: list[str] = field(default_factory=list)
    module: ModuleVersion | None = None
    router_version: int | None = None
    passages_encoded: int = 0

    def table(self) -> str:
        lines = [f"{'domain':14s} {'before':>8s} {'after':>8s} {'delta':>8s}  (held-out nDCG@10 x 100)"]
        for r in self.rows:
            before = "-" if r["before"] is None else f"{100 * r['before']:.2f}"
            lines.append(f"{r['domain']:14s} {before:>8s} {100 * r['after']:8.2f} {r['delta']:+8.2f}  {r['note']}")
        state = "activated as router@production" if self.activated else "NOT activated (production unchanged)"
        lines.append(f"router@{self.router_version}: {state}")
        lines += [f"  - {why}" for why in self.reasons]
        return "\n".join(lines)


def _load_domain_data(reg: Registry, encoder, state, name: str, data: str, progress: bool, replay: dict | None = None) -> DomainData:
    from ddr.retrieval.beir import corpus_fingerprint, load_corpus
    from ddr.trainer.data import QuerySet, train_and_heldout

    if not data:
        raise UsageError(f"domain {name!r} has no recorded corpus path; run update-domain {name} --data DIR")
    folder = Path(data)
    if not folder.is_dir():
        if replay is None:  # the data given on the command line
            raise DataError(f"{data}: no such data directory")
        raise UsageError(f"{data}: the corpus of domain {name!r} is not there (was it moved?)")
    corpus = load_corpus(folder)
    # Queries and qrels are checked before anything is encoded: bad data leaves the cache untouched.
    if replay is None:
        train, heldout, source = train_and_heldout(folder)
    else:
        train, heldout = QuerySet.from_dict(replay["train"]), QuerySet.from_dict(replay["heldout"])
        source = replay.get("heldout_source", "")
    texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
    fp = corpus_fingerprint(corpus)
    emb, encoded = passage_embeddings(reg, encoder, state.general_key, fp, texts, progress)
    return DomainData(name, list(corpus), torch.from_numpy(emb), train, heldout, encoded, fp, source)


def _replay(reg: Registry, mv: ModuleVersion) -> dict:
    with tempfile.TemporaryDirectory(prefix="ddr-replay-") as tmp:
        folder = reg.blobs.materialize(list(mv.files), Path(tmp) / "m", mv.ref)
        path = folder / REPLAY_FILE
        if not path.is_file():
            raise UsageError(f"{mv.ref} has no replay set; retrain it with update-domain")
        return json.loads(path.read_text())


def _fit_router(encoder, sets: list[DomainData]):
    from ddr.trainer.router import fit_router

    reps, labels = [], []
    for i, d in enumerate(sets):
        batch = encoder.tokenize(d.train.texts, encoder.config.query_max_length)
        with torch.no_grad():
            reps.append(encoder.token_mean(batch["input_ids"], batch["attention_mask"]))
        labels.append(torch.full((len(d.train),), i))
    return fit_router(torch.cat(reps), torch.cat(labels), [d.name for d in sets], backbone=dict(encoder.backbone.spec.__dict__))


def _score(encoder, d: DomainData, route: str) -> float:
    from ddr.trainer.domain import rank_and_score

    return rank_and_score(encoder.encode_queries(d.heldout.texts, route=route), d.passages, d.doc_ids, d.heldout)


def add_domain(
    reg: Registry,
    name: str,
    data: str,
    instruction: str = "",
    force: bool = False,
    threshold: float = 0.5,
    config=None,
    backbone: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
    update: bool = False,
) -> GateReport:
    """Train a domain prefix (new, or a new version with ``update``) and a router; gate; activate."""
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.registry.refs import check_name
    from ddr.trainer.domain import DomainTrainConfig, train_domain

    check_name(name, "domain name")
    config = config or DomainTrainConfig()
    state = live.resolve(reg)
    live_names = [d.name for d in state.domains]
    if update and name not in live_names:
        raise UsageError(f"domain {name!r} is not live; use add-domain")
    if not update and name in live_names:
        raise UsageError(f"domain {name!r} is already live; use update-domain to train a new version")
    current = live.load_encoder(reg, state, backbone)
    bb = current.backbone
    echo = echo or (lambda _msg: None)
    report = GateReport()

    # 1. passages of every domain involved, under the live general prefix (cached; new corpus encoded once)
    earlier = []
    for mv in state.domains:
        if mv.name == name:
            continue
        earlier.append(_load_domain_data(reg, current, state, mv.name, mv.metrics.get("data", ""), progress, _replay(reg, mv)))
    new = _load_domain_data(reg, current, state, name, data, progress)
    report.passages_encoded = new.encoded + sum(d.encoded for d in earlier)
    if not len(new.train):
        raise UsageError(f"{data}: no training queries with judgements in qrels/train.tsv")

    # 2. the new module, on the query side only
    old = next((mv for mv in state.domains if mv.name == name), None)
    if old is not None:  # a new version continues from the live one's weights (and its prefix length)
        module = PrefixModule.load_state(current.domain_modules[name])
    else:
        module = PrefixModule.create(bb, "domain", name, config.prefix_length, seed=config.seed, base=state.general is not None)
    trainer_enc = DDREncoder(bb, current.general, [module], config=current.config)
    echo(f"training domain {name!r}: {len(new.train)} queries, held-out {len(new.heldout)}")
    result = train_domain(trainer_enc, module, new.passages, new.doc_ids, new.train, new.heldout, config, progress=echo)

    # 3. the router over every domain, from the replay sets
    domains = [current.domain_modules[d.name] for d in earlier] + [result.module]
    router = _fit_router(current, earlier + [new])
    candidate = DDREncoder(bb, current.general, domains, router, current.config)

    # 4. evaluate on every held-out set, 5. gate
    general_only = result.heldout_ndcg[0] if old is None else _score(DDREncoder(bb, current.general, config=current.config), new, "none")
    before_new = general_only if old is None else _score(current, new, f"prior:{name}")
    after_new = _score(candidate, new, f"prior:{name}")
    note = "new module vs general-only, prior routing" if old is None else f"v{old.version} -> new version, prior routing"
    report.rows.append({"domain": name, "before": before_new, "after": after_new, "delta": 100 * (after_new - before_new), "note": note})
    if after_new <= general_only:
        report.reasons.append(f"{name}: held-out nDCG@10 {100 * after_new:.2f} does not beat general-only {100 * general_only:.2f}")
    if old is not None and 100 * (before_new - after_new) > threshold:
        report.reasons.append(f"{name}: the new version is {100 * (before_new - after_new):.2f} points below v{old.version}")
    for d in earlier:
        before = _score(current, d, "topk") if current.router else _score(current, d, "none")
        after = _score(candidate, d, "topk")
        report.rows.append({"domain": d.name, "before": before, "after": after, "delta": 100 * (after - before), "note": "top-k routing"})
        if 100 * (before - after) > threshold:
            report.reasons.append(f"{d.name}: dropped {100 * (before - after):.2f} points (> {threshold})")
    report.rows.append({"domain": f"{name} (top-k)", "before": None, "after": _score(candidate, new, "topk"), "delta": 0.0, "note": "router picks"})

    # 6. register module + router atomically, then move the alias if the gate allows
    metrics = {
        "data": str(Path(data).resolve()),
        "heldout_source": new.heldout_source,
        "instruction": instruction,
        "heldout_ndcg@10": after_new,
        "general_only_heldout_ndcg@10": general_only,
        "heldout_curve": result.heldout_ndcg,
        "best_epoch": result.best_epoch,
        "train": config.to_dict(),
    }
    with tempfile.TemporaryDirectory(prefix="ddr-add-") as tmp:
        mfolder = result.module.save(Path(tmp) / "module")
        replay = {"train": new.train.to_dict(), "heldout": new.heldout.to_dict(), "heldout_source": new.heldout_source}
        (mfolder / REPLAY_FILE).write_text(json.dumps(replay))
        rfolder = router.save(Path(tmp) / "router")
        spec = ModuleSpec("domain", name, mfolder, result.module.config.to_dict(), result.module.config.backbone, old.version if old else None, new.fingerprint, metrics, instruction or None)
        versions = [(mv.name, mv.version) for mv in state.domains if mv.name != name] + [(name, None)]
        mv, rv = reg.register_domain_and_router(
            spec, rfolder, router.config.to_dict(), versions, state.general_version, {"heldout": {r["domain"]: r["after"] for r in report.rows}}
        )
    report.module, report.router_version = mv, rv.version
    if force or not report.reasons:
        why = "forced" if report.reasons else "gate passed"
        set_alias(reg, f"router@{rv.version}", "production", reason=f"{'update' if update else 'add'}-domain {name}: {why}")
        report.activated = True
    return report


def retrain_router(
    reg: Registry, threshold: float = 0.5, force: bool = False, backbone: str | None = None, progress: bool = True
) -> GateReport:
    """Refit the router over the live domains from their replay sets; gate it like add-domain."""
    from ddr.modules import DDREncoder
    from ddr.publish import publish_router

    state = live.resolve(reg)
    if not state.domains:
        raise UsageError("no live domains to route over; run add-domain first")
    current = live.load_encoder(reg, state, backbone)
    sets = [_load_domain_data(reg, current, state, mv.name, mv.metrics.get("data", ""), progress, _replay(reg, mv)) for mv in state.domains]
    router = _fit_router(current, sets)
    candidate = DDREncoder(current.backbone, current.general, list(current.domain_modules.values()), router, current.config)
    report = GateReport(passages_encoded=sum(d.encoded for d in sets))
    for d in sets:
        before, after = _score(current, d, "topk"), _score(candidate, d, "topk")
        report.rows.append({"domain": d.name, "before": before, "after": after, "delta": 100 * (after - before), "note": "top-k routing"})
        if 100 * (before - after) > threshold:
            report.reasons.append(f"{d.name}: dropped {100 * (before - after):.2f} points (> {threshold})")
    rv = publish_router(reg, router, [(mv.name, mv.version) for mv in state.domains], state.general_version)
    report.router_version = rv.version
    if force or not report.reasons:
        set_alias(reg, f"router@{rv.version}", "production", reason="retrain-router: " + ("forced" if report.reasons else "gate passed"))
        report.activated = True
    return report
