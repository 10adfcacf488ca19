"""The object every command receives: the registry named by ``--home`` / ``--db-url``, opened lazily."""

from __future__ import annotations

import json

import click


class Ctx:
    """Lazily opened registry for the options given on the group."""

    def __init__(self, home: str | None, db_url: str | None, artifacts: str | None = None) -> None:
        self.home, self.db_url, self.artifacts, self._reg = home, db_url, artifacts, None

    @property
    def registry(self):
        if self._reg is None:
            from ddr.registry import Registry

            self._reg = Registry(self.home, self.db_url, artifacts=self.artifacts)
        return self._reg


pass_ctx = click.make_pass_decorator(Ctx)


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))
