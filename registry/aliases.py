"""Movable names on versions, rollback, and the audit log.

Every alias move (set, remove, rollback) writes one audit row in the same transaction as the
move: the log accounts for every change or for none. A command that decided what to do from the
alias's current target passes that target as ``expect``: the move then happens only if the alias
still points there (compare-and-set, checked under the move's own lock), so a rollback or another
command's move in between is never silently undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ddr.errors import UsageError

from .entities import AuditEntry, ModuleVersion, RouterVersion
from .errors import AliasMovedError, ConflictError, NotFoundError
from .limits import MAX_VERSION
from .refs import Ref, check_name, parse_ref
from .store import Registry
from .tx import ANY


@dataclass(frozen=True)
class Expected:
    """What a command read before it decided: the moved alias's target (None: unset) and, in ``others``,
    other aliases' ((scope, alias) -> version) that its decision rested on."""

    version: int | None
    others: Mapping[tuple[str, str], int | None] = field(default_factory=dict)


def verify_loadable(reg: Registry, entity: ModuleVersion | RouterVersion) -> None:
    """Check every file a target needs (a router needs its general and domain versions too)."""
    reg.check_files(entity)
    if isinstance(entity, RouterVersion):
        for name, version in entity.domains:
            reg.check_files(reg.module_version(Ref("domain", name, version)))
        if entity.general_version:
            reg.check_files(reg.module_version(Ref("general", "general", entity.general_version)))


def current_target(reg: Registry, scope: str, alias: str = "production") -> int | None:
    """Where ``scope@alias`` points now (None: unset): what a command reads before it decides."""
    with reg.read() as tx:
        return tx.alias_target(scope, alias)


def set_alias(
    reg: Registry, ref: str | Ref, alias: str, reason: str = "", verify: bool = True, expect: Any = ANY,
) -> tuple[int | None, int]:
    """Point ``alias`` at the version ``ref`` names; returns (previous version, new version).

    ``expect``: move only if the alias still points at this version (None: still unset), or, as an
    :class:`Expected`, only if it and every alias in ``Expected.others`` are still where the caller
    read them. Otherwise :class:`~ddr.registry.errors.AliasMovedError` and nothing changes.
    ``verify``: check the target's files first (inside :meth:`~ddr.registry.artifacts.Artifacts.verifying_once`,
    files the command verified already are not read again).
    """
    check_name(alias, "alias")
    if alias.isdigit():
        raise UsageError("an alias cannot be a number (it would shadow a version)")
    entity = reg.resolve(ref)
    if verify:
        verify_loadable(reg, entity)
    if not isinstance(expect, Expected):
        expect = Expected(expect) if expect is not ANY else None
    with reg.write() as tx:
        for (scope, name), version in sorted((expect.others if expect else {}).items()):
            tx.expect_alias(scope, name, version)
        before = tx.move_alias(entity.scope, alias, entity.version, "alias.set", reason, expect=expect.version if expect else ANY)
    return before, entity.version


def remove_alias(reg: Registry, scope_ref: str, alias: str, reason: str = "") -> int:
    ref = parse_ref(scope_ref.split("@")[0])
    with reg.write() as tx:
        return tx.move_alias(ref.scope, alias, None, "alias.rm", reason)


def previous_target(reg: Registry, scope: str, alias: str) -> int:
    """The version the alias pointed at before its latest move."""
    with reg.read() as tx:
        last = tx.last_move(f"{scope}@{alias}")
    if last is None or last.from_version is None:
        raise NotFoundError(f"{scope}@{alias} has no earlier target to roll back to; use --to N")
    return last.from_version


def rollback(reg: Registry, scope_ref: str = "router", to: int | None = None, alias: str = "production", reason: str = "") -> tuple[int | None, int]:
    """Move ``alias`` back (to version ``to``, or to its previous target), verifying the target first.

    The target is decided from the alias's current state; the move is a compare-and-set on that
    state, so a move that lands in between makes the rollback refuse instead of undoing it.
    """
    ref = parse_ref(scope_ref.split("@")[0])
    if to is not None and not 1 <= to <= MAX_VERSION:
        raise UsageError(f"--to must be a version from 1 to {MAX_VERSION}, got {to}")
    current = current_target(reg, ref.scope, alias)
    target_version = to if to is not None else previous_target(reg, ref.scope, alias)
    if current == target_version:
        raise ConflictError(f"{ref.scope}@{alias} already points at version {target_version}")
    entity = reg.resolve(Ref(ref.kind, ref.name, version=target_version))
    verify_loadable(reg, entity)
    try:
        with reg.write() as tx:
            before = tx.move_alias(ref.scope, alias, target_version, "rollback", reason, expect=current)
    except AliasMovedError as exc:
        raise AliasMovedError(f"{exc}; nothing was rolled back: check `ddr-registry history`, then run the rollback again") from None
    return before, target_version


def history(reg: Registry, target: str | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Audit entries, newest first; ``target`` filters by scope (e.g. 'router', 'domain/scifact')."""
    with reg.read() as tx:
        return tx.history(target, limit)


def aliases(reg: Registry) -> list[dict]:
    with reg.read() as tx:
        return tx.aliases()
