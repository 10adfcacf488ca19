"""Training commands: add-domain, update-domain, retrain-router."""

from __future__ import annotations

import click

from ddr.cli import main
from ddr.cli_registry import Ctx, pass_ctx


def train_options(f):
    for opt in reversed(
        [
            click.option("--prefix-length", type=click.IntRange(1, 512), default=16, show_default=True),
            click.option("--epochs", type=click.IntRange(1, 1000), default=10, show_default=True),
            click.option("--lr", type=float, default=1e-2, show_default=True),
            click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True),
            click.option("--seed", type=int, default=0, show_default=True),
            click.option("--threshold", type=float, default=0.5, show_default=True, help="Largest nDCG@10 drop (points) allowed on an earlier domain."),
            click.option("--backbone", default=None),
            click.option("--quiet", is_flag=True),
        ]
    ):
        f = opt(f)
    return f


def _config(prefix_length, epochs, lr, batch_size, seed):
    from ddr.trainer.domain import DomainTrainConfig

    return DomainTrainConfig(prefix_length=prefix_length, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)


def _run(ctx: Ctx, name, data, instruction, force, update, prefix_length, epochs, lr, batch_size, seed, threshold, backbone, quiet):
    from ddr.training import add_domain

    report = add_domain(
        ctx.registry, name, data, instruction, force, threshold, _config(prefix_length, epochs, lr, batch_size, seed),
        backbone, progress=not quiet, echo=None if quiet else click.echo, update=update,
    )
    click.echo(f"registered {report.module.ref} and router@{report.router_version}; passages encoded: {report.passages_encoded}")
    click.echo(report.table())


@main.command("add-domain")
@click.argument("name")
@click.option("--data", required=True, type=click.Path(), help="BEIR folder of the new domain (train split; dev if present).")
@click.option("--instruction", default="", help="One line on what this domain's queries look like.")
@click.option("--force", is_flag=True, help="Activate even if the gate refuses.")
@train_options
@pass_ctx
def add_domain_cmd(ctx: Ctx, name, data, instruction, force, **kw) -> None:
    """Train a new domain prefix (query side only) and retrain only the router; activate if nothing got worse."""
    _run(ctx, name, data, instruction, force, False, **kw)


@main.command("update-domain")
@click.argument("name")
@click.option("--data", required=True, type=click.Path())
@click.option("--instruction", default="")
@click.option("--force", is_flag=True)
@train_options
@pass_ctx
def update_domain_cmd(ctx: Ctx, name, data, instruction, force, **kw) -> None:
    """Train a new version of a live domain prefix (from its current weights) and a router over it."""
    _run(ctx, name, data, instruction, force, True, **kw)


@main.command("retrain-router")
@click.option("--threshold", type=float, default=0.5, show_default=True)
@click.option("--force", is_flag=True)
@click.option("--backbone", default=None)
@click.option("--quiet", is_flag=True)
@pass_ctx
def retrain_router_cmd(ctx: Ctx, threshold, force, backbone, quiet) -> None:
    """Refit the router over the live domains (replay sets); activate if no domain got worse."""
    from ddr.training import retrain_router

    report = retrain_router(ctx.registry, threshold, force, backbone, progress=not quiet)
    click.echo(report.table())


@main.command("train-general")
@click.option("--data", "data", multiple=True, required=True, type=click.Path(), help="Collections whose train splits to use (repeatable).")
@click.option("--epochs", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--max-steps", type=click.IntRange(0, 10**7), default=0, show_default=True, help="Stop after this many steps (0: no limit).")
@click.option("--lr", type=float, default=5e-3, show_default=True)
@click.option("--batch-size", type=click.IntRange(2, 4096), default=16, show_default=True)
@click.option("--prefix-length", type=click.IntRange(1, 512), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threshold", type=float, default=0.5, show_default=True)
@click.option("--force", is_flag=True, help="Make it live even if the gate refuses (only while no domain is live).")
@click.option("--backbone", default=None)
@click.option("--quiet", is_flag=True)
@pass_ctx
def train_general_cmd(ctx: Ctx, data, epochs, max_steps, lr, batch_size, prefix_length, seed, threshold, force, backbone, quiet) -> None:
    """Phase 1: train a new general-prefix version (passages in the loop, mined hard negatives)."""
    from ddr.general_training import train_general
    from ddr.trainer.general import GeneralTrainConfig

    cfg = GeneralTrainConfig(prefix_length=prefix_length, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed, max_steps=max_steps)
    report = train_general(ctx.registry, data, cfg, threshold, force, backbone, progress=not quiet, echo=None if quiet else click.echo)
    click.echo(report.table())
