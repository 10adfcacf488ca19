"""Registry errors: each also inherits the builtin a caller would catch."""

from __future__ import annotations

from ddr.errors import DdrError


class NotFoundError(DdrError, KeyError):
    """A module, version, alias or index that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(DdrError, ValueError):
    """The request contradicts what is registered (name taken, wrong kind, immutable version)."""


class IntegrityError(DdrError, ValueError):
    """An artifact is missing or its bytes do not match the recorded sha256."""


class SchemaError(DdrError, RuntimeError):
    """The database schema does not match this version of ddr; the message says what to run."""


class RegistryIOError(DdrError, OSError):
    """The registry home cannot be written (permissions, full disk)."""


class AliasMovedError(ConflictError):
    """An alias is no longer where the command that wanted to move it read it (compare-and-set failed)."""
