"""Training commands: add-domain, update-domain, retrain-router, train-general.

Every default shown here is read from the config classes (:mod:`ddr.trainer.config`,
:mod:`ddr.modules.config`) and the gate (:mod:`ddr.service.gate`), none of which imports torch.
"""

from __future__ import annotations

import click

from ddr.modules.config import DEFAULT_ROUTER_KIND, ROUTER_KINDS
from ddr.service.gate import DEFAULT_RULE, DEFAULT_THRESHOLD, RULES
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig

from . import options
from .context import Ctx, pass_ctx

THRESHOLD_HELP = "Largest held-out nDCG@10 drop (points) allowed on an earlier domain."


_gate_rule = click.option("--gate-rule", type=click.Choice(RULES), default=DEFAULT_RULE, show_default=True,
                          help="How a held-out drop refuses the candidate (see docs/design.md: shrunk weighs each domain's drop by its noise).")
_router_kind = click.option("--router", "router_kind", type=click.Choice(ROUTER_KINDS), default=DEFAULT_ROUTER_KIND, show_default=True,
                            help="knn: route by the nearest training queries' gains per module; linear: a domain classifier.")


def _domain_options(f):
    for opt in reversed(
        [
            options.config_options(DomainTrainConfig),
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


def _run_domain(ctx: Ctx, name: str, *, update: bool, **kw) -> None:
    from ddr.service.domain import DomainRequest, run_domain

    config = options.config_from(DomainTrainConfig, kw)
    quiet = kw.pop("quiet")
    kw["dtype"] = options.encoding_dtype(kw.pop("dtype"))
    req = DomainRequest(
        name, kw.pop("data"), update=update, config=config, progress=not quiet,
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
def add_domain(ctx: Ctx, name: str, **kw) -> None:
    """Train a new domain prefix (query side only) and retrain only the router; activate if nothing got worse."""
    _run_domain(ctx, name, update=False, **kw)


@click.command("update-domain")
@click.argument("name")
@click.option("--data", required=True, type=click.Path(), help="BEIR folder of the domain (train split; dev if present).")
@click.option("--instruction", default="", help="One line on what this domain's queries look like.")
@options.force
@_domain_options
@pass_ctx
def update_domain(ctx: Ctx, name: str, **kw) -> None:
    """Train a new version of a live domain prefix (from its current weights) and a router over it."""
    _run_domain(ctx, name, update=True, **kw)


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


@click.command("train-general")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(), help="Collections whose train splits to use (repeatable).")
@options.config_options(GeneralTrainConfig)
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
        ctx.registry, data, config=options.config_from(GeneralTrainConfig, kw), threshold=threshold, force=force, backbone=backbone, progress=not quiet,
        echo=None if quiet else click.echo, dtype=options.encoding_dtype(dtype),
    )
    click.echo(report.table())


COMMANDS = (add_domain, update_domain, retrain_router, train_general)
