"""``ddr-registry``: thin click commands over the library.

Heavy imports (torch, transformers, faiss) happen inside command bodies so ``--help`` stays fast.
Every :class:`~ddr.errors.DdrError` becomes one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

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


from ddr import cli_hub as _cli_hub  # noqa: F401  (push, pull)
from ddr import cli_registry as _cli_registry  # noqa: F401  (registers the registry commands)
from ddr import cli_retrieval as _cli_retrieval  # noqa: F401  (index, search, evaluate)
from ddr import cli_train as _cli_train  # noqa: F401  (add-domain, update-domain, retrain-router)

if __name__ == "__main__":
    # ``python -m ddr.cli``: this file runs as ``__main__``, but the subcommand modules register on
    # ``ddr.cli.main`` (a second copy of this module, imported above through them), so run that one.
    from ddr.cli import main as _registered

    _registered(prog_name="ddr-registry")
