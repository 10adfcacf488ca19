"""Registry commands: init, list, show, history, alias, rollback, verify, gc, db.

Only the registry (SQLAlchemy) is imported here, never torch: these answer in well under a second.
Every line built from registry rows is printed through :func:`ddr.cli.output.echo`, which shows
control characters as escapes (a pulled ``description`` or ``created_by`` may hold any).
"""

from __future__ import annotations

import sys

import click

from . import options
from .context import Ctx, echo_json, pass_ctx
from .output import echo


@click.command()
@pass_ctx
def init(ctx: Ctx) -> None:
    """Create the registry home and database (or bring its schema to head). Idempotent.

    With --artifacts s3://BUCKET[/PREFIX] (or DDR_ARTIFACTS) the bucket is checked and recorded as the
    registry's artifact store: every home that opens this database writes there unless told otherwise.
    """
    from ddr.registry import Registry

    reg = Registry.init(ctx.home, ctx.db_url, artifacts=ctx.artifacts)
    click.echo(f"registry ready at {reg.home} ({reg.engine.url.render_as_string(hide_password=True)}); artifacts: {reg.blobs.uri}")


@click.command("list")
@options.json_output
@pass_ctx
def list_(ctx: Ctx, as_json: bool) -> None:
    """List module versions, router versions and aliases."""
    from ddr.registry.aliases import aliases

    reg = ctx.registry
    mods, routers, al = reg.module_versions(), reg.router_versions(), aliases(reg)
    if as_json:
        echo_json(
            {
                "modules": [{**m.to_dict(), "ref": m.ref} for m in mods],
                "routers": [{**r.to_dict(), "ref": r.ref} for r in routers],
                "aliases": al,
            }
        )
        return
    if not mods and not routers:
        click.echo("registry is empty")
    for m in mods:
        tags = f"  [{', '.join(m.aliases)}]" if m.aliases else ""
        echo(f"{m.ref:32s} {m.created_at:%Y-%m-%d %H:%M}  {m.created_by}{tags}")
    for r in routers:
        tags = f"  [{', '.join(r.aliases)}]" if r.aliases else ""
        doms = ", ".join(f"{n}@{v}" for n, v in r.domains) or "no domains"
        echo(f"{r.ref:32s} {r.created_at:%Y-%m-%d %H:%M}  general@{r.general_version or '-'}; {doms}{tags}")


@click.command()
@click.argument("ref")
@options.json_output
@pass_ctx
def show(ctx: Ctx, ref: str, as_json: bool) -> None:
    """Show one version: REF like router@production, domain/scifact@3, general@1."""
    entity = ctx.registry.resolve(ref)
    data = {**entity.to_dict(), "ref": entity.ref}
    if as_json:
        echo_json(data)
        return
    for key in sorted(data):
        if key not in ("files", "config"):
            echo(f"{key:18s} {data[key]}")
    for f in data["files"]:
        echo(f"file               {f['name']}  {f['size']} bytes  sha256:{f['sha256'][:16]}")


@click.command()
@click.option("--target", default=None, help="Only this scope, e.g. router or domain/scifact.")
@click.option("-n", "--limit", type=click.IntRange(1, None), default=50, show_default=True, help="At most this many entries.")
@options.json_output
@pass_ctx
def history(ctx: Ctx, target: str | None, limit: int, as_json: bool) -> None:
    """The audit log, newest first: registrations and every alias move."""
    from ddr.registry.aliases import history as audit

    entries = audit(ctx.registry, target, limit=limit)
    if as_json:
        echo_json([e.to_dict() for e in entries])
        return
    for e in entries:
        move = f"{e.from_version if e.from_version is not None else '-'} -> {e.to_version if e.to_version is not None else '-'}"
        why = f"  ({e.reason})" if e.reason else ""
        echo(f"{e.at:%Y-%m-%d %H:%M:%S}  {e.actor:20s} {e.action:10s} {e.target:30s} {move}{why}")


@click.group()
def alias() -> None:
    """Move or remove aliases (each move is audited)."""


@alias.command("set")
@click.argument("ref")
@click.argument("name")
@options.reason
@pass_ctx
def alias_set(ctx: Ctx, ref: str, name: str, reason: str) -> None:
    """Point alias NAME at REF (its artifacts are verified first)."""
    from ddr.registry.aliases import set_alias

    before, after = set_alias(ctx.registry, ref, name, reason=reason)
    echo(f"{name}: {before if before is not None else '-'} -> {after}")


@alias.command("rm")
@click.argument("scope")
@click.argument("name")
@options.reason
@pass_ctx
def alias_rm(ctx: Ctx, scope: str, name: str, reason: str) -> None:
    """Remove alias NAME from SCOPE (router, general, domain/NAME)."""
    from ddr.registry.aliases import remove_alias

    before = remove_alias(ctx.registry, scope, name, reason=reason)
    echo(f"{name}: {before} -> removed")


@click.command()
@click.argument("scope", default="router")
@click.option("--to", "to", type=int, default=None, help="Version to roll back to (default: the alias's previous target).")
@click.option("--alias", "alias_name", default="production", show_default=True, help="The alias to move back.")
@options.reason
@pass_ctx
def rollback(ctx: Ctx, scope: str, to: int | None, alias_name: str, reason: str) -> None:
    """Move an alias back after verifying the target's artifacts (SCOPE: router, general, domain/NAME)."""
    from ddr.registry.aliases import rollback as do_rollback

    before, after = do_rollback(ctx.registry, scope, to=to, alias=alias_name, reason=reason)
    echo(f"{scope}@{alias_name}: {before} -> {after}")


@click.command()
@options.json_output
@pass_ctx
def verify(ctx: Ctx, as_json: bool) -> None:
    """Recompute every artifact's sha256; exit 1 on any mismatch or missing file."""
    from ddr.registry.maintenance import verify as do_verify

    report = do_verify(ctx.registry)
    if as_json:
        echo_json({"checked": report.checked, "problems": report.problems, "ok": report.ok})
    else:
        for p in report.problems:
            echo(f"FAIL {p}", err=True)
        click.echo(f"{report.checked} files checked, {len(report.problems)} problems")
    if not report.ok:
        sys.exit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@pass_ctx
def gc(ctx: Ctx, dry_run: bool) -> None:
    """Remove artifact blobs no version references (left by interrupted publishes)."""
    from ddr.registry.maintenance import gc as do_gc

    removed = do_gc(ctx.registry, dry_run=dry_run)
    for path in removed:
        echo(("would remove " if dry_run else "removed ") + path)
    click.echo(f"{len(removed)} files {'to remove' if dry_run else 'removed'}")


@click.group("db")
def db_group() -> None:
    """Database schema: current revision and upgrades."""


@db_group.command("current")
@pass_ctx
def db_current(ctx: Ctx) -> None:
    """Print the database's schema revision and the code's."""
    from ddr.registry import Registry
    from ddr.registry.db import current_revision, head_revision

    reg = Registry(ctx.home, ctx.db_url, check=False)
    click.echo(f"database: {current_revision(reg.engine) or 'none'}  code: {head_revision()}")


@db_group.command("upgrade")
@pass_ctx
def db_upgrade(ctx: Ctx) -> None:
    """Migrate the database schema to this ddr's version."""
    from ddr.registry import Registry
    from ddr.registry.db import upgrade

    before, after = upgrade(Registry(ctx.home, ctx.db_url, check=False).engine)
    click.echo(f"schema {before or 'none'} -> {after}")


COMMANDS = (init, list_, show, history, alias, rollback, verify, gc, db_group)
