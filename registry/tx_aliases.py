"""Alias moves, compare-and-set and the audit log, as operations of a :class:`~ddr.registry.tx.Tx`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from .entities import AuditEntry
from .errors import AliasMovedError, NotFoundError
from .schema import AliasRow, AuditRow


def now() -> datetime:
    return datetime.now(timezone.utc)


ANY = object()  # move_alias(expect=ANY): move whatever the alias points at now


class AliasOps:
    """Mixed into Tx: needs ``self.session``, ``self.lock`` and ``self.audit``."""

    def alias_target(self, scope: str, alias: str) -> int | None:
        return self.session.scalar(select(AliasRow.version).where(AliasRow.scope == scope, AliasRow.name == alias))

    def aliases_of(self, scope: str, version: int) -> tuple[str, ...]:
        return tuple(self.session.scalars(select(AliasRow.name).where(AliasRow.scope == scope, AliasRow.version == version).order_by(AliasRow.name)))

    def aliases(self) -> list[dict[str, Any]]:
        return [
            {"scope": r.scope, "alias": r.name, "version": r.version, "updated_at": r.updated_at.isoformat()}
            for r in self.session.scalars(select(AliasRow).order_by(AliasRow.scope, AliasRow.name))
        ]

    def move_alias(self, scope: str, alias: str, version: int | None, action: str, reason: str, expect: Any = ANY) -> int | None:
        """Point ``scope@alias`` at ``version`` (None removes it) and audit it; returns the previous target.

        ``expect``: compare-and-set. The alias must still point at ``expect`` (None: unset), checked
        under the same lock and in the same transaction as the move, else :class:`AliasMovedError`.
        """
        self.lock(f"alias:{scope}")
        row = self.session.scalar(select(AliasRow).where(AliasRow.scope == scope, AliasRow.name == alias).with_for_update())
        before = row.version if row else None
        if expect is not ANY and before != expect:
            raise AliasMovedError(self._moved(scope, alias, expect, before))
        if version is None:
            if row is None:
                raise NotFoundError(f"alias {alias!r} is not set on {scope}")
            self.session.delete(row)
        elif row is None:
            self.session.add(AliasRow(scope=scope, name=alias, version=version, updated_at=now()))
        else:
            row.version, row.updated_at = version, now()
        self.audit(action, f"{scope}@{alias}", before, version, reason)
        return before

    def expect_alias(self, scope: str, alias: str, version: int | None) -> None:
        """Hold ``scope@alias``'s lock for this transaction and check it still points at ``version``."""
        self.lock(f"alias:{scope}")
        now = self.alias_target(scope, alias)
        if now != version:
            raise AliasMovedError(self._moved(scope, alias, version, now))

    def _moved(self, scope: str, alias: str, expected: int | None, now: int | None) -> str:
        entries = self.history(f"{scope}@{alias}", limit=1)
        last = entries[0] if entries else None
        how = f" ({last.action} by {last.actor} at {last.at:%Y-%m-%d %H:%M:%S}{', ' + last.reason if last.reason else ''})" if last else ""
        return f"{scope}@{alias} moved from {_v(expected)} to {_v(now)}{how} since this command read it"

    def last_move(self, target: str) -> AuditEntry | None:
        """The latest alias.set or rollback of ``target`` (``scope@alias``)."""
        row = self.session.scalar(
            select(AuditRow).where(AuditRow.target == target, AuditRow.action.in_(("alias.set", "rollback"))).order_by(AuditRow.id.desc()).limit(1)
        )
        return _audit_entry(row) if row is not None else None

    def history(self, target: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        q = select(AuditRow).order_by(AuditRow.id.desc())
        if target:
            q = q.where((AuditRow.target == target) | AuditRow.target.like(f"{target}@%"))
        if limit:
            q = q.limit(limit)
        return [_audit_entry(r) for r in self.session.scalars(q)]



def _v(version: int | None) -> str:
    return "-" if version is None else str(version)


def _audit_entry(r: AuditRow) -> AuditEntry:
    return AuditEntry(r.id, r.at, r.actor, r.action, r.target, r.from_version, r.to_version, r.reason)
