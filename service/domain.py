"""add-domain, update-domain, retrain-router: load, train, fit the router, score, gate, register, activate.

The gate (:mod:`.gate`) keeps ``router@production`` where it is unless the candidate makes the new
domain better than general-only on its held-out queries and no earlier domain worse by more than
``threshold`` nDCG@10 points (under top-k routing, against the current production system).
Candidates are registered either way (module and router in one transaction), so a refused
candidate can still be inspected or activated by hand; ``force`` activates it regardless.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddr.errors import UsageError
from ddr.registry import ModuleVersion, Registry, RouterVersion
from ddr.trainer.config import DomainTrainConfig

from . import domain_data, gate, live, routing
from .domain_data import DomainData, QueryData
from .publish import publish_domain_and_router, publish_router, router_spec

if TYPE_CHECKING:  # torch stays off the CLI's start-up path
    from ddr.modules import DDREncoder, PrefixModule, Router
    from ddr.trainer.domain import TrainResult


@dataclass
class GateReport:
    """What a gated domain or router command did: the scores, the verdict, what was registered."""

    scores: list[gate.Score] = field(default_factory=list)
    verdict: gate.Verdict = field(default_factory=lambda: gate.Verdict(True))
    activated: bool = False
    module: ModuleVersion | None = None
    router_version: int | None = None
    passages_encoded: int = 0

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.verdict.reasons

    def table(self) -> str:
        lines = gate.table(self.scores, subject="domain", caption="held-out nDCG@10 x 100")
        state = "activated as router@production" if self.activated else "NOT activated (production unchanged)"
        lines.append(f"router@{self.router_version}: {state}")
        lines += [f"  - {why}" for why in self.reasons]
        return "\n".join(lines)


@dataclass(frozen=True)
class DomainRequest:
    """One add-domain or update-domain run."""

    name: str
    data: str
    update: bool = False
    instruction: str = ""
    force: bool = False
    threshold: float = gate.DEFAULT_THRESHOLD
    config: DomainTrainConfig = field(default_factory=DomainTrainConfig)
    router: str = routing.DEFAULT_KIND
    gate_rule: str = gate.DEFAULT_RULE
    backbone: str | None = None
    dtype: str | None = None  # encoding precision (passages are cached per dtype); training runs in float32
    progress: bool = True
    echo: Callable[[str], None] | None = None

    def say(self, message: str) -> None:
        if self.echo:
            self.echo(message)


@dataclass(frozen=True)
class RouterRequest:
    """One retrain-router run."""

    threshold: float = gate.DEFAULT_THRESHOLD
    force: bool = False
    backbone: str | None = None
    progress: bool = True
    kind: str = routing.DEFAULT_KIND
    gate_rule: str = gate.DEFAULT_RULE
    dtype: str | None = None


@dataclass(frozen=True)
class Candidate:
    """What one add-domain or update-domain run trained and scored: what it registers."""

    new: DomainData
    result: TrainResult  # the new module, its held-out curve and best epoch
    router: Router  # over every live domain and the new module, with its lexical weights
    scores: list[gate.Score]  # the gate's rows; the first is the new domain's
    old: ModuleVersion | None  # the version an update-domain continues from
    stored: dict[str, bytes]  # replay set and gate data, stored with the new version
    backbone_source: str


def add_domain(reg: Registry, name: str, *, data: str, **options: Any) -> GateReport:
    """Train a new domain prefix (query side only) and a router over every live domain; gate; activate.

    ``options``: the other :class:`DomainRequest` fields (instruction, force, threshold, config,
    backbone, progress, echo).
    """
    return run_domain(reg, DomainRequest(name, data, update=False, **options))


def update_domain(reg: Registry, name: str, *, data: str, **options: Any) -> GateReport:
    """Train a new version of a live domain prefix from its current weights; gate; activate."""
    return run_domain(reg, DomainRequest(name, data, update=True, **options))


def run_domain(reg: Registry, req: DomainRequest) -> GateReport:
    """Check the data, then load, train, fit the router, score, gate, register and activate.

    The data folder is read and checked before the backbone loads or any registry file is fetched;
    every file the command reads or writes is verified once (the activation does not read them again).
    """
    from ddr.registry.refs import check_name

    check_name(req.name, "domain name")
    with reg.blobs.verifying_once():
        state = _live_state(reg, req)
        queries = _read(req)
        current = live.load_encoder(reg, state, backbone=req.backbone, dtype=req.dtype)
        old = next((mv for mv in state.domains if mv.name == req.name), None)
        _check_prefix_length(current, req, old)
        earlier = [domain_data.from_version(reg, current, mv, general_key=state.general_key, progress=req.progress) for mv in state.domains if mv.name != req.name]
        new = domain_data.encode(reg, current, queries, general_key=state.general_key, progress=req.progress)
        result = _train(current, state, new, old, req)
        if result.crossfit is not None:
            new = replace(new, oof_gain={q: result.crossfit.after[q] - result.crossfit.before[q] for q in new.train.ids})
        modules = _with_domains(current, [*(current.domain_modules[d.name] for d in earlier), result.module])
        router = routing.fit(current, modules, [*earlier, new], kind=req.router)
        candidate = _with_domains(current, list(modules.domain_modules.values()), router)
        weight, _ = routing.fit_lexical_weight(candidate, new)
        routing.with_lexical_weights(router, current.router, {new.name: weight})
        scores = _score(current, candidate, new, earlier, old) + _crossfit_row(new.name, result)
        report = GateReport(scores, gate.judge(scores, threshold=req.threshold, rule=req.gate_rule), passages_encoded=new.encoded + sum(d.encoded for d in earlier))
        stored = _stored_files(current, candidate, new, state.general_key)
        report.module, rv = _register(reg, state, req, Candidate(new, result, router, scores, old, stored, current.backbone.source))
        report.router_version = rv.version
        action = f"{'update' if req.update else 'add'}-domain {req.name}"
        report.activated = gate.activate(reg, rv.ref, report.verdict, force=req.force, action=action, expect=_version(state.router))
    return report


def _live_state(reg: Registry, req: DomainRequest) -> live.ActiveState:
    """The live versions, after checking the domain is (not) live as the command needs (nothing loaded)."""
    state = live.resolve(reg)
    live_names = [d.name for d in state.domains]
    if req.update and req.name not in live_names:
        raise UsageError(f"domain {req.name!r} is not live; use add-domain")
    if not req.update and req.name in live_names:
        raise UsageError(f"domain {req.name!r} is already live; use update-domain to train a new version")
    return state


def _read(req: DomainRequest) -> QueryData:
    """The new domain's data folder, read and checked before the backbone loads or any file is fetched."""
    queries = domain_data.read_folder(req.name, req.data)
    if not len(queries.train):
        raise UsageError(f"{req.data}: no training queries with judgements in qrels/train.tsv")
    if not len(queries.heldout):
        where = "qrels/dev.tsv" if queries.heldout_source == "dev" else queries.heldout_source
        raise UsageError(f"{req.data}: no held-out queries with judgements ({where})")
    return queries


def _check_prefix_length(current: DDREncoder, req: DomainRequest, old: ModuleVersion | None) -> None:
    """Before any training: a new module must have the prefix length of the modules it is composed with."""
    if old is not None:
        return  # a new version keeps its parent's prefix length
    live_modules = ([current.general] if current.general is not None else []) + list(current.domain_modules.values())
    lengths = {m.config.prefix_length for m in live_modules}
    if lengths and req.config.prefix_length not in lengths:
        names = ", ".join(f"{m.kind}/{m.name} P={m.config.prefix_length}" for m in live_modules)
        raise UsageError(
            f"--prefix-length {req.config.prefix_length} differs from the live modules' ({names}): modules composed together "
            f"share one prefix length; use --prefix-length {min(lengths)}"
        )


def _train(current: DDREncoder, state: live.ActiveState, new: DomainData, old: ModuleVersion | None, req: DomainRequest) -> TrainResult:
    """The new module, trained on the query side only (a new version continues from the live weights)."""
    from ddr.modules import DDREncoder, PrefixModule
    from ddr.trainer.domain import fit_domain, lexical_view, pseudo_queries

    def make() -> tuple[DDREncoder, PrefixModule]:
        if old is not None:  # and keeps its prefix length
            module = PrefixModule.load_state(current.domain_modules[req.name])
        else:
            module = PrefixModule.create(current.backbone, "domain", req.name, req.config.prefix_length, seed=req.config.seed, base=state.general is not None)
        return DDREncoder(current.backbone, current.general, [module], config=current.config), module

    req.say(f"training domain {req.name!r}: {len(new.train)} queries, held-out {len(new.heldout)}; epochs chosen by {req.config.selection}")
    lexical = lexical_view(new.texts, new.doc_ids, new.train, new.heldout) if req.config.lexical_weight > 0 else None
    pseudo = pseudo_queries(new.texts, new.doc_ids, new.train, req.config) if req.config.keep_weight > 0 else None
    return fit_domain(make, new.passages, new.doc_ids, new.train, new.heldout, req.config, echo=req.echo, lexical=lexical, pseudo=pseudo)


def _crossfit_row(name: str, result: TrainResult) -> list[gate.Score]:
    """Information only: the module's gain out of fold over the training queries (no choice has seen it)."""
    cv = result.crossfit
    if cv is None:
        return []
    ids = list(cv.before)
    before, after = sum(cv.before.values()) / len(ids), sum(cv.after.values()) / len(ids)
    diffs = tuple(cv.after[q] - cv.before[q] for q in ids)
    return [gate.Score(f"{name} (cross-fit)", before, after, f"out of fold over the training queries, {cv.epochs} epochs", guarded=False, diffs=diffs)]


def _with_domains(current: DDREncoder, domains: list[PrefixModule], router: Router | None = None) -> DDREncoder:
    from ddr.modules import DDREncoder

    return DDREncoder(current.backbone, current.general, domains, router, current.config)


def score(encoder: DDREncoder, d: DomainData, route: str) -> float:
    """Held-out nDCG@10 of ``encoder`` under ``route`` on a domain's cached passages."""
    from ddr.retrieval.scoring import rank_and_score

    return rank_and_score(encoder.encode_queries(d.heldout.texts, route=route), d.passages, d.doc_ids, d.heldout)


def per_query(encoder: DDREncoder, d: DomainData, route: str) -> list[float]:
    """Held-out nDCG@10 of every query of ``d`` (in ``d.heldout.ids`` order)."""
    from ddr.retrieval.scoring import per_query_ndcg

    scores = per_query_ndcg(encoder.encode_queries(d.heldout.texts, route=route), d.passages, d.doc_ids, d.heldout)
    return [scores[q] for q in d.heldout.ids]


def _score(current: DDREncoder, candidate: DDREncoder, new: DomainData, earlier: list[DomainData], old: ModuleVersion | None) -> list[gate.Score]:
    """The gate's rows: the new domain under prior routing, every earlier one under top-k, the router's pick."""
    prior = f"prior:{new.name}"
    general_only = per_query(current, new, "none")
    before_new = general_only if old is None else per_query(current, new, prior)
    note = "new module vs general-only, prior routing" if old is None else f"v{old.version} -> new version, prior routing"
    base = sum(general_only) / len(general_only)
    rows = [gate.compare(new.name, before_new, per_query(candidate, new, prior), note, must_beat=base, must_beat_label="general-only", guarded=old is not None)]
    for d in earlier:
        rows.append(gate.compare(d.name, per_query(current, d, "topk" if current.router else "none"), per_query(candidate, d, "topk"), "top-k routing"))
    rows.append(gate.Score(f"{new.name} (top-k)", None, score(candidate, new, "topk"), "router picks", guarded=False))
    return rows


def _stored_files(current: DDREncoder, candidate: DDREncoder, new: DomainData, general_key: str) -> dict[str, bytes]:
    """The replay set and gate data the new version carries (see :mod:`.domain_data`)."""
    queries = new.heldout.texts + new.train.texts
    systems = [current.encode_queries(queries, route="none"), candidate.encode_queries(queries, route=f"prior:{new.name}")]
    return domain_data.stored_files(new, domain_data.gate_pool(new, systems), general_key)


def _register(reg: Registry, state: live.ActiveState, req: DomainRequest, c: Candidate) -> tuple[ModuleVersion, RouterVersion]:
    """Module (with its replay set and gate data) and router in one transaction."""
    after, general_only = c.scores[0].after, c.scores[0].must_beat
    members = [(mv.name, mv.version) for mv in state.domains if mv.name != req.name] + [(req.name, None)]
    spec = router_spec(c.router, members, state.general_version, {"heldout": {s.name: s.after for s in c.scores}}, c.backbone_source)
    return publish_domain_and_router(
        reg, c.result.module, c.router, spec, extra_files=c.stored,
        parent=c.old.version if c.old else None, data_fingerprint=c.new.fingerprint, description=req.instruction or None,
        metrics={"heldout_ndcg@10": after, "general_only_heldout_ndcg@10": general_only, "heldout_curve": c.result.heldout_ndcg, "best_epoch": c.result.best_epoch,
                 **({"crossfit_curve": c.result.crossfit.curve, "crossfit_gain": c.result.crossfit.gain} if c.result.crossfit else {})},
        data_paths=(str(Path(req.data).resolve()),), instruction=req.instruction, backbone_source=c.backbone_source,
        train_config={**req.config.to_dict(), "heldout_source": c.new.heldout_source},
    )


def retrain_router(reg: Registry, **options: Any) -> GateReport:
    """Refit the router over the live domains from their replay sets (and gate data); gate it like add-domain.

    ``options``: the :class:`RouterRequest` fields (threshold, force, backbone, progress, kind, gate_rule, dtype).
    """
    req = RouterRequest(**options)
    with reg.blobs.verifying_once():
        state = live.resolve(reg)
        if not state.domains:
            raise UsageError("no live domains to route over; run add-domain first")
        current = live.load_encoder(reg, state, backbone=req.backbone, dtype=req.dtype)
        sets = [domain_data.from_version(reg, current, mv, general_key=state.general_key, progress=req.progress) for mv in state.domains]
        modules = _with_domains(current, list(current.domain_modules.values()))
        router = routing.with_lexical_weights(routing.fit(current, modules, sets, kind=req.kind), current.router)  # the live router's weights
        candidate = _with_domains(current, list(current.domain_modules.values()), router)
        scores = [gate.compare(d.name, per_query(current, d, "topk"), per_query(candidate, d, "topk"), "top-k routing") for d in sets]
        report = GateReport(scores, gate.judge(scores, threshold=req.threshold, rule=req.gate_rule), passages_encoded=sum(d.encoded for d in sets))
        rv = publish_router(
            reg, candidate.router, [(mv.name, mv.version) for mv in state.domains], state.general_version, backbone_source=current.backbone.source
        )
        report.router_version = rv.version
        report.activated = gate.activate(reg, rv.ref, report.verdict, force=req.force, action="retrain-router", expect=_version(state.router))
    return report


def _version(entity: ModuleVersion | RouterVersion | None) -> int | None:
    return entity.version if entity is not None else None
