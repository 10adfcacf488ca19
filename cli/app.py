"""The ``ddr-registry`` group: options, the context object, the error mapping, and every command.

Every :class:`~ddr.errors.DdrError` becomes one line on stderr and exit code 1 (control characters in
the message, which may quote a pulled manifest, are shown as escapes); usage errors exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import sys

import click

from ddr import __version__
from ddr.errors import DdrError

from . import cmd_hub, cmd_registry, cmd_retrieval, cmd_serve, cmd_train
from .context import Ctx
from .output import clean


class DdrGroup(click.Group):
    """Turns user-facing errors into one line and exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        from ddr.service import distributed

        if distributed.launched() and distributed.rank() != 0:  # under torchrun: an encoding worker for rank 0
            distributed.worker_loop()
            return None
        try:
            return super().invoke(ctx)
        except DdrError as exc:
            click.echo(f"Error: {clean(exc)}", err=True)
            sys.exit(1)
        finally:
            distributed.shutdown()


@click.group(cls=DdrGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ddr-registry")
@click.option("--home", envvar="DDR_HOME", type=click.Path(file_okay=False), help="Registry home (env DDR_HOME).")
@click.option("--db-url", envvar="DDR_DB_URL", help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db (env DDR_DB_URL).")
@click.option("--artifacts", envvar="DDR_ARTIFACTS", metavar="URI",
              help="Where new artifacts go: 'local' (the home's blobs folder) or s3://BUCKET[/PREFIX] (env DDR_ARTIFACTS; "
                   "default: the store recorded at init, else local). The endpoint and credentials are boto3's: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, home: str | None, db_url: str | None, artifacts: str | None, verbose: int) -> None:
    """ddr: dense retrieval that learns new domains as routed prefix modules over a frozen backbone."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Ctx(home, db_url, artifacts)


for module in (cmd_registry, cmd_retrieval, cmd_train, cmd_hub, cmd_serve):
    for command in module.COMMANDS:
        main.add_command(command)
