"""References to registered things: ``router@production``, ``router@3``, ``domain/scifact@2``,
``domain/scifact`` (latest), ``general@staging`` (the general module is named ``general``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ddr.errors import UsageError

from .limits import MAX_VERSION

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
KINDS = ("router", "general", "domain")


def check_name(name: str, what: str = "name") -> str:
    if not NAME_RE.match(name or ""):
        raise UsageError(f"invalid {what} {name!r}: use letters, digits, '.', '_' or '-' (up to 100, not starting with a symbol)")
    return name


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str | None
    version: int | None = None
    alias: str | None = None

    @property
    def scope(self) -> str:
        return "router" if self.kind == "router" else f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        at = f"@{self.version}" if self.version is not None else f"@{self.alias}" if self.alias else ""
        return f"{self.scope}{at}"


def parse_ref(text: str) -> Ref:
    head, sep, at = text.partition("@")
    kind, _, name = head.partition("/")
    if kind not in KINDS:
        raise UsageError(f"bad reference {text!r}: start with router, general or domain/NAME (e.g. router@production)")
    if kind == "router":
        if name:
            raise UsageError(f"bad reference {text!r}: routers have no name (use router@N or router@ALIAS)")
        name = None
    elif kind == "general":
        name = check_name(name or "general", "module name")
    elif not name:
        raise UsageError(f"bad reference {text!r}: a domain reference needs a name (domain/NAME@VERSION)")
    else:
        check_name(name, "module name")
    if not sep:
        return Ref(kind, name)
    if at.isdigit() and int(at) >= 1:
        if int(at) > MAX_VERSION:
            raise UsageError(f"bad reference {text!r}: versions run from 1 to {MAX_VERSION}")
        return Ref(kind, name, version=int(at))
    check_name(at, "alias")
    if at.isdigit():
        raise UsageError(f"bad reference {text!r}: versions start at 1")
    return Ref(kind, name, alias=at)
