"""The command reference (docs/cli.md), rendered from the commands themselves so it cannot drift.

``python -m ddr.cli.reference > docs/cli.md``; tests/test_docs.py checks the committed file.
"""

from __future__ import annotations

import click

HEADER = """# `ddr-registry` command reference

Generated from the commands' own help by `python -m ddr.cli.reference > docs/cli.md` (a test checks
it is current). Every command takes the group's options: `--home DIR` (env `DDR_HOME`), `--db-url URL`
(env `DDR_DB_URL`), `-v`. Errors print one line (`Error: ...`) and exit 1; usage errors exit 2.
"""


def _commands(group: click.Group, parent: click.Context) -> list[tuple[click.Context, click.Command]]:
    """Every command under ``group`` with the context it runs in (so the group's settings apply)."""
    out = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        ctx = click.Context(cmd, parent=parent, info_name=name)
        out.append((ctx, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, ctx)
    return out


def commands(main: click.Group) -> list[tuple[str, click.Command]]:
    """(full command path, command) for every command of ``main``."""
    return [(ctx.command_path, cmd) for ctx, cmd in _commands(main, _root(main))]


def _root(main: click.Group) -> click.Context:
    return click.Context(main, info_name="ddr-registry", terminal_width=100, max_content_width=100, **main.context_settings)


def render(main: click.Group) -> str:
    parts = [HEADER]
    for ctx, cmd in _commands(main, _root(main)):
        parts.append(f"## `{ctx.command_path}`\n\n```text\n{cmd.get_help(ctx)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    from .app import main as _main

    click.echo(render(_main), nl=False)
