"""Hub sync commands: push and pull (huggingface_hub is imported only when one of them runs)."""

from __future__ import annotations

import sys

import click

from .context import Ctx, pass_ctx


def _quiet_unless_terminal() -> None:
    """huggingface_hub's per-file progress bars only when a person watches (never in logs or CI)."""
    if not sys.stderr.isatty():
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@click.command()
@click.option("--repo", required=True, help="Hub repository ORG/NAME (created if missing).")
@click.option("--router", "router", default=None, help="Push this router version and everything it uses (default router@production).")
@click.option("--all", "everything", is_flag=True, help="Push every module and router version.")
@click.option("--public", is_flag=True, help="Create the repository public (a new repository is private unless this is given).")
@click.option("--private", is_flag=True, hidden=True, help="Accepted for older scripts: new repositories are private anyway.")
@click.option(
    "--with-gate-data", is_flag=True,
    help="Also push each domain's replay set and gate data: its training and held-out queries with their judgements, and the "
    "embeddings of the passages its gate ranks. Needed to add domains on a pulled registry; off by default because it publishes queries.",
)
@click.option("--with-authors", is_flag=True, help="Publish who made each version (user@host); off by default.")
@click.option("--revision", default="main", show_default=True, help="Branch to commit to.")
@pass_ctx
def push(ctx: Ctx, repo: str, router: str | None, everything: bool, public: bool, private: bool, with_gate_data: bool, with_authors: bool,
         revision: str) -> None:
    """Publish versions to the Hugging Face Hub: files, manifest.json and a model card in one commit (private by default)."""
    if router and everything:
        raise click.UsageError("--router and --all exclude each other")
    if public and private:
        raise click.UsageError("--public and --private exclude each other")
    from ddr.hub import push as push_

    _quiet_unless_terminal()
    report = push_(
        ctx.registry, repo, router=router or "router@production", everything=everything, public=public, branch=revision,
        with_gate_data=with_gate_data, with_authors=with_authors,
    )
    for line in report.lines():
        click.echo(line)


@click.command()
@click.option("--repo", required=True, help="Hub repository ORG/NAME.")
@click.option("--revision", default="main", show_default=True, help="Branch, tag (e.g. router-v3) or commit sha.")
@click.option(
    "--max-file-size", type=click.IntRange(0, None), default=None, envvar="DDR_HUB_MAX_FILE_SIZE",
    help="Refuse any file the manifest declares larger than this many bytes (default and ceiling: 2147483647, the registry's limit).",
)
@pass_ctx
def pull(ctx: Ctx, repo: str, revision: str, max_file_size: int) -> None:
    """Import a Hub repository's versions (verified against manifest.json) into this registry."""
    from ddr.hub import pull as pull_

    _quiet_unless_terminal()
    report = pull_(ctx.registry, repo, revision=revision, max_file_size=max_file_size)
    for line in report.lines():
        click.echo(line)


COMMANDS = (push, pull)
