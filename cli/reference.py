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


def _commands(group: click.Group, prefix: str) -> list[tuple[str, click.Command]]:
    out = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        path = f"{prefix} {name}"
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out += _commands(cmd, path)
    return out


def render(main: click.Group) -> str:
    parts = [HEADER]
    for path, cmd in _commands(main, "ddr-registry"):
        ctx = click.Context(cmd, info_name=path, terminal_width=100, max_content_width=100)
        parts.append(f"## `{path}`\n\n```text\n{cmd.get_help(ctx)}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    from .app import main as _main

    click.echo(render(_main), nl=False)
