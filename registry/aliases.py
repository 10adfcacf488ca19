"""Movable names on versions, rollback, and the audit log.

Every alias move (set, remove, rollback) writes one audit row in the same transaction as the
move: the log accounts for every change or for none.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ddr.errors import UsageError

from . import db
from .entities import AuditEntry, ModuleVersion, RouterVersion
from .errors import ConflictError, NotFoundError
from .home import actor
from .refs import Ref, check_name, parse_ref
from .schema import AliasRow, AuditRow
from .store import Registry, now


def verify_loadable(reg: Registry, entity: ModuleVersion | RouterVersion) -> None:
    """Check every file a target needs (a router needs its general and domain versions too)."""
    reg.check_files(entity)
    if isinstance(entity, RouterVersion):
        for name, version in entity.domains:
            reg.check_files(reg.module_version(Ref("domain", name, version)))
        if entity.general_version:
            reg.check_files(reg.module_version(Ref("general", "general", entity.general_version)))


def _move(s: Session, scope: str, alias: str, version: int | None, action: str, reason: str) -> int | None:
    """Point ``scope@alias`` at ``version`` (None removes it); returns the previous target."""
    db.lock_scope(s, f"alias:{scope}")
    row = s.scalar(select(AliasRow).where(AliasRow.scope == scope, AliasRow.name == alias))
    before = row.version if row else None
    if version is None:
        if row is None:
            raise NotFoundError(f"alias {alias!r} is not set on {scope}")
        s.delete(row)
    elif row is None:
        s.add(AliasRow(scope=scope, name=alias, version=version, updated_at=now()))
    else:
        row.version, row.updated_at = version, now()
    s.add(AuditRow(at=now(), actor=actor(), action=action, target=f"{scope}@{alias}", from_version=before, to_version=version, reason=reason))
    return before


def set_alias(reg: Registry, ref: str | Ref, alias: str, reason: str = "", verify: bool = True) -> tuple[int | None, int]:
    """Point ``alias`` at the version ``ref`` names; returns (previous version, new version)."""
    check_name(alias, "alias")
    if alias.isdigit():
        raise UsageError("an alias cannot be a number (it would shadow a version)")
    entity = reg.resolve(ref)
    if verify:
        verify_loadable(reg, entity)
    scope = "router" if isinstance(entity, RouterVersion) else f"{entity.kind}/{entity.name}"
    with reg._write() as s:
        before = _move(s, scope, alias, entity.version, "alias.set", reason)
    return before, entity.version


def remove_alias(reg: Registry, scope_ref: str, alias: str, reason: str = "") -> int:
    ref = parse_ref(scope_ref.split("@")[0])
    with reg._write() as s:
        before = _move(s, ref.scope, alias, None, "alias.rm", reason)
    return before


def previous_target(reg: Registry, scope: str, alias: str) -> int:
    """The version the alias pointed at before its latest move."""
    with reg._read() as s:
        row = s.scalar(
            select(AuditRow)
            .where(AuditRow.target == f"{scope}@{alias}", AuditRow.action.in_(("alias.set", "rollback")))
            .order_by(AuditRow.id.desc())
            .limit(1)
        )
    if row is None or row.from_version is None:
        raise NotFoundError(f"{scope}@{alias} has no earlier target to roll back to; use --to N")
    return row.from_version


def rollback(reg: Registry, scope_ref: str = "router", to: int | None = None, alias: str = "production", reason: str = "") -> tuple[int | None, int]:
    """Move ``alias`` back (to version ``to``, or to its previous target), verifying the target first."""
    ref = parse_ref(scope_ref.split("@")[0])
    target_version = to if to is not None else previous_target(reg, ref.scope, alias)
    entity = reg.resolve(Ref(ref.kind, ref.name, version=target_version))
    verify_loadable(reg, entity)
    with reg._write() as s:
        current = s.scalar(select(AliasRow.version).where(AliasRow.scope == ref.scope, AliasRow.name == alias))
        if current == target_version:
            raise ConflictError(f"{ref.scope}@{alias} already points at version {target_version}")
        before = _move(s, ref.scope, alias, target_version, "rollback", reason)
    return before, target_version


def history(reg: Registry, target: str | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Audit entries, newest first; ``target`` filters by scope (e.g. 'router', 'domain/scifact')."""
    with reg._read() as s:
        q = select(AuditRow).order_by(AuditRow.id.desc())
        if target:
            q = q.where((AuditRow.target == target) | AuditRow.target.like(f"{target}@%"))
        if limit:
            q = q.limit(limit)
        return [
            AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.from_version, r.to_version, r.reason)
            for r in s.scalars(q)
        ]


def aliases(reg: Registry) -> list[dict]:
    with reg._read() as s:
        return [
            {"scope": r.scope, "alias": r.name, "version": r.version, "updated_at": r.updated_at.isoformat()}
            for r in s.scalars(select(AliasRow).order_by(AliasRow.scope, AliasRow.name))
        ]
