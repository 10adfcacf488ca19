"""``ddr-registry``: thin click commands over the library.

Heavy imports (torch, transformers, faiss) happen inside command bodies so ``--help`` stays fast.
Every :class:`~ddr.errors.DdrError` becomes one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import json
import logging
import sys

import click

from ddr import __version__
from ddr.errors import DdrError


class DdrGroup(click.Group):
    """Turns user-facing errors into one line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DdrError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=DdrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ddr-registry")
@click.option("--home", envvar="DDR_HOME", type=click.Path(file_okay=False), help="Registry home (env DDR_HOME).")
@click.option("--db-url", envvar="DDR_DB_URL", help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db (env DDR_DB_URL).")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, home: str | None, db_url: str | None, verbose: int) -> None:
    """ddr: dense retrieval that learns new domains as routed prefix modules over a frozen backbone."""
    from ddr.cli_registry import Ctx

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Ctx(home, db_url)


@main.command()
@click.option("--data", "data", required=True, type=click.Path(), help="A BEIR collection folder, or a folder of them.")
@click.option("--collection", "collections", multiple=True, help="Only these collections of a folder (repeatable).")
@click.option("--split", default="test", show_default=True, help="qrels split to evaluate.")
@click.option("--backbone", default="all-MiniLM-L6-v2", show_default=True, help="Backbone path or hub id.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16"]), default="float32", show_default=True)
@click.option("--show", default=2, show_default=True, help="Queries whose top hits are printed per collection.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def demo(data, collections, split, backbone, dtype, show, as_json, quiet) -> None:
    """Encode collections with the routed encoder (fresh general prefix) and rank their queries.

    The general prefix is freshly initialised, hence an exact no-op: the DDR row must equal the
    plain backbone's. Training and the registry build on this pipeline.
    """
    from ddr.service import run_demo

    results = run_demo(data, collections, split, backbone, dtype, show, progress=not quiet, echo=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(results, indent=2))


from ddr import cli_registry as _cli_registry  # noqa: E402,F401  (registers the registry commands)
