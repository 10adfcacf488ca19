"""Training commands: add-domain, update-domain, retrain-router, train-general.

Every default shown here is read from the config classes (:mod:`ddr.trainer.config`,
:mod:`ddr.modules.config`) and the gate (:mod:`ddr.service.gate`), none of which imports torch.
"""

from __future__ import annotations

import click

from ddr.modules.config import DEFAULT_ROUTER_KIND, MAX_PREFIX_LENGTH, ROUTER_KINDS
from ddr.service.gate import DEFAULT_RULE, DEFAULT_THRESHOLD, RULES
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig, default

from . import options
from .context import Ctx, pass_ctx

THRESHOLD_HELP = "Largest held-out nDCG@10 drop (points) allowed on an earlier domain."


_gate_rule = click.option("--gate-rule", type=click.Choice(RULES), default=DEFAULT_RULE, show_default=True,
                          help="How a held-out drop refuses the candidate (see docs/design.md: shrunk weighs each domain's drop by its noise).")
_router_kind = click.option("--router", "router_kind", type=click.Choice(ROUTER_KINDS), default=DEFAULT_ROUTER_KIND, show_default=True,
                            help="knn: route by the nearest training queries' gains per module; linear: a domain classifier.")


def _domain_options(f):
    d = DomainTrainConfig
    for opt in reversed(
        [
            click.option("--prefix-length", type=click.IntRange(1, MAX_PREFIX_LENGTH), default=default(d, "prefix_length"), show_default=True, help="P: prefix vectors per layer (a new version keeps its parent's)."),
            click.option("--epochs", type=click.IntRange(1, 1000), default=default(d, "epochs"), show_default=True, help="At most this many epochs (early stopping on held-out queries)."),
            click.option("--lr", type=float, default=default(d, "lr"), show_default=True, help="AdamW learning rate."),
            click.option("--batch-size", type=click.IntRange(1, 4096), default=default(d, "batch_size"), show_default=True, help="Queries per step."),
            click.option("--seed", type=int, default=default(d, "seed"), show_default=True, help="Seed (training is deterministic on CPU)."),
            click.option("--train-lexical-weight", "lexical_weight", type=click.FloatRange(0, 1), default=default(d, "lexical_weight"),
                         show_default=True, help="> 0: train against the score fused with BM25 at this weight (for hybrid search)."),
            click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True, help=THRESHOLD_HELP),
            _gate_rule,
            _router_kind,
            options.dtype,
            options.backbone,
            options.quiet,
        ]
    ):
        f = opt(f)
    return f


def _run_domain(ctx: Ctx, name: str, data: str, instruction: str, force: bool, *, update: bool, **kw) -> None:
    from ddr.service.domain import DomainRequest, run_domain

    config = DomainTrainConfig(**{k: kw.pop(k) for k in ("prefix_length", "epochs", "lr", "batch_size", "seed", "lexical_weight")})
    quiet = kw.pop("quiet")
    kw["dtype"] = options.encoding_dtype(kw.pop("dtype"))
    req = DomainRequest(
        name, data, update=update, instruction=instruction, force=force, config=config, progress=not quiet,
        echo=None if quiet else click.echo, router=kw.pop("router_kind"), **kw,
    )
    report = run_domain(ctx.registry, req)
    click.echo(f"registered {report.module.ref} and router@{report.router_version}; passages encoded: {report.passages_encoded} ({kw['dtype']})")
    click.echo(report.table())


@click.command("add-domain")
@click.argument("name")
@click.option("--data", required=True, type=click.Path(), help="BEIR folder of the new domain (train split; dev if present).")
@click.option("--instruction", default="", help="One line on what this domain's queries look like.")
@options.force
@_domain_options
@pass_ctx
def add_domain(ctx: Ctx, name, data, instruction, force, **kw) -> None:
    """Train a new domain prefix (query side only) and retrain only the router; activate if nothing got worse."""
    _run_domain(ctx, name, data, instruction, force, update=False, **kw)


@click.command("update-domain")
@click.argument("name")
@click.option("--data", required=True, type=click.Path(), help="BEIR folder of the domain (train split; dev if present).")
@click.option("--instruction", default="", help="One line on what this domain's queries look like.")
@options.force
@_domain_options
@pass_ctx
def update_domain(ctx: Ctx, name, data, instruction, force, **kw) -> None:
    """Train a new version of a live domain prefix (from its current weights) and a router over it."""
    _run_domain(ctx, name, data, instruction, force, update=True, **kw)


@click.command("retrain-router")
@click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True, help=THRESHOLD_HELP)
@_gate_rule
@_router_kind
@options.force
@options.dtype
@options.backbone
@options.quiet
@pass_ctx
def retrain_router(ctx: Ctx, threshold, gate_rule, router_kind, force, dtype, backbone, quiet) -> None:
    """Refit the router over the live domains (replay sets); activate if no domain got worse."""
    from ddr.service.domain import retrain_router as run

    report = run(ctx.registry, threshold=threshold, force=force, backbone=backbone, progress=not quiet, kind=router_kind, gate_rule=gate_rule,
                 dtype=options.encoding_dtype(dtype))
    click.echo(report.table())


G = GeneralTrainConfig


@click.command("train-general")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(), help="Collections whose train splits to use (repeatable).")
@click.option("--epochs", type=click.IntRange(1, 100), default=default(G, "epochs"), show_default=True, help="Passes over the mined triples.")
@click.option("--max-steps", type=click.IntRange(0, 10**7), default=default(G, "max_steps"), show_default=True, help="Stop after this many steps (0: no limit).")
@click.option("--lr", type=float, default=default(G, "lr"), show_default=True, help="AdamW learning rate.")
@click.option("--batch-size", type=click.IntRange(2, 4096), default=default(G, "batch_size"), show_default=True, help="Triples per step.")
@click.option("--prefix-length", type=click.IntRange(1, MAX_PREFIX_LENGTH), default=default(G, "prefix_length"), show_default=True, help="P of a new general prefix.")
@click.option("--seed", type=int, default=default(G, "seed"), show_default=True, help="Seed.")
@click.option("--threshold", type=float, default=DEFAULT_THRESHOLD, show_default=True, help="Largest held-out nDCG@10 drop (points) allowed on a collection.")
@click.option("--force", is_flag=True, help="Make it live even if the gate refuses (only while no domain is live).")
@options.dtype
@options.backbone
@options.quiet
@pass_ctx
def train_general(ctx: Ctx, data, threshold, force, dtype, backbone, quiet, **kw) -> None:
    """Phase 1: train a new general-prefix version (passages in the loop, mined hard negatives)."""
    from ddr.service.general import train_general as run

    report = run(
        ctx.registry, data, config=GeneralTrainConfig(**kw), threshold=threshold, force=force, backbone=backbone, progress=not quiet,
        echo=None if quiet else click.echo, dtype=options.encoding_dtype(dtype),
    )
    click.echo(report.table())


COMMANDS = (add_domain, update_domain, retrain_router, train_general)
