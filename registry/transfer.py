"""Versions that travel between registries (Hub push and pull), keeping their version numbers.

A :class:`PortableVersion` is one module or router version with everything needed to recreate it
elsewhere: files, backbone identity, config, lineage, metrics and aliases. :func:`import_versions`
brings a batch of them in: a version already here with identical content is recognised and skipped,
one with the same number but other content is refused, and the rows of every new version, its audit
entry and the alias moves land in one transaction, so a refused import changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ddr.errors import UsageError

from . import db
from .aliases import _move
from .blobs import StoredFile
from .entities import ModuleVersion, RouterVersion
from .errors import ConflictError, IntegrityError
from .home import actor
from .refs import check_name
from .schema import (
    AliasRow,
    AuditRow,
    ModuleRow,
    ModuleVersionRow,
    RouterMemberRow,
    RouterVersionRow,
)
from .store import Registry, now

KINDS = ("general", "domain", "router")


@dataclass(frozen=True)
class PortableVersion:
    """One version as it leaves or enters a registry. Routers carry ``name == "router"``."""

    kind: str
    name: str
    version: int
    files: tuple[StoredFile, ...]
    backbone: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime
    created_by: str
    aliases: tuple[str, ...] = ()
    description: str = ""
    parent_version: int | None = None
    data_fingerprint: str = ""
    domains: tuple[tuple[str, int], ...] = ()
    general_version: int | None = None

    @property
    def scope(self) -> str:
        return "router" if self.kind == "router" else f"{self.kind}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.scope}@{self.version}"

    def identity(self) -> tuple:
        """What must match for two registries to hold "the same" version: content and lineage."""
        files = tuple(sorted((f.name, f.sha256, f.size) for f in self.files))
        lineage = (self.domains, self.general_version) if self.kind == "router" else (self.parent_version,)
        return (self.kind, self.name, self.version, self.backbone.get("weights_sha256"), files, lineage)


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    aliases_set: list[str] = field(default_factory=list)
    aliases_kept: list[str] = field(default_factory=list)  # "router@production: kept 2 (source: 3)"


def portable(reg: Registry, entity: ModuleVersion | RouterVersion) -> PortableVersion:
    """The portable form of a registered version (backbone spelled out in full)."""
    backbone = next(b.to_dict() for b in reg.backbones() if b.weights_sha256 == entity.backbone_sha256)
    return _portable(entity, backbone)


def _portable(entity: ModuleVersion | RouterVersion, backbone: dict[str, Any]) -> PortableVersion:
    common = {
        "version": entity.version, "files": tuple(entity.files), "backbone": backbone, "config": entity.config,
        "metrics": entity.metrics, "created_at": entity.created_at, "created_by": entity.created_by, "aliases": tuple(entity.aliases),
    }
    if isinstance(entity, RouterVersion):
        return PortableVersion(kind="router", name="router", domains=tuple(entity.domains), general_version=entity.general_version, **common)
    return PortableVersion(
        kind=entity.kind, name=entity.name, description=entity.description, parent_version=entity.parent_version,
        data_fingerprint=entity.data_fingerprint, **common,
    )


def _local(reg: Registry, s: Session, v: PortableVersion) -> PortableVersion | None:
    if v.kind == "router":
        row = s.scalar(select(RouterVersionRow).where(RouterVersionRow.version == v.version))
        entity = reg._router_entity(s, row) if row else None
    else:
        mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == v.kind, ModuleRow.name == v.name))
        row = mod and s.scalar(select(ModuleVersionRow).where(ModuleVersionRow.module_id == mod.id, ModuleVersionRow.version == v.version))
        entity = reg._module_entity(s, mod, row) if row else None
    return _portable(entity, {"weights_sha256": entity.backbone_sha256}) if entity else None


def _classify(reg: Registry, s: Session, versions: Sequence[PortableVersion], source: str) -> tuple[list[PortableVersion], list[str]]:
    """Split into (new, already present); refuse a version that exists here with other content."""
    new, present = [], []
    for v in versions:
        mine = _local(reg, s, v)
        if mine is None:
            new.append(v)
        elif mine.identity() == v.identity():
            present.append(v.ref)
        else:
            raise ConflictError(
                f"{v.ref} exists here with different content than in {source}; nothing was imported "
                "(versions are immutable: rename or remove one side first)"
            )
    _check_references(reg, s, versions, source)
    return new, present


def _check_references(reg: Registry, s: Session, versions: Sequence[PortableVersion], source: str) -> None:
    """Every parent, router member and general version must come along or already be here."""
    incoming = {(v.kind, v.name, v.version) for v in versions}

    def known(kind: str, name: str, version: int) -> bool:
        if (kind, name, version) in incoming:
            return True
        mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == kind, ModuleRow.name == name))
        return mod is not None and s.scalar(
            select(ModuleVersionRow.id).where(ModuleVersionRow.module_id == mod.id, ModuleVersionRow.version == version)
        ) is not None

    for v in versions:
        needed = [(v.kind, v.name, v.parent_version)] if v.parent_version else []
        needed += [("domain", n, dv) for n, dv in v.domains]
        needed += [("general", "general", v.general_version)] if v.general_version else []
        for kind, name, version in needed:
            if not known(kind, name, version):
                raise IntegrityError(f"{v.ref} needs {kind}/{name}@{version}, which is neither in {source} nor in this registry")


def plan_import(reg: Registry, versions: Sequence[PortableVersion], source: str) -> tuple[list[PortableVersion], list[str]]:
    """Read-only dry run of :func:`import_versions`: (versions to import, refs already here)."""
    _check_batch(versions)
    with reg._read() as s:
        return _classify(reg, s, versions, source)


def _check_batch(versions: Sequence[PortableVersion]) -> None:
    seen = set()
    for v in versions:
        if v.kind not in KINDS:
            raise UsageError(f"unknown version kind {v.kind!r}")
        check_name(v.name, "module name")
        if v.ref in seen:
            raise UsageError(f"{v.ref} is listed twice")
        seen.add(v.ref)


def import_versions(
    reg: Registry, versions: Sequence[PortableVersion], sources: Mapping[str, Path], source: str
) -> ImportReport:
    """Import ``versions`` (file contents in ``sources``: sha256 -> path) in one transaction.

    Aliases are applied where this registry has none of that name in the scope; an alias that
    already points elsewhere here is kept (reported in ``aliases_kept``), never moved silently.
    """
    new, _ = plan_import(reg, versions, source)
    for v in new:  # blobs first, as in every registration: a failure below leaves only orphan blobs
        for f in v.files:
            if f.sha256 not in sources:
                raise IntegrityError(f"{v.ref}: no content for {f.name}")
            digest, size = reg.blobs.put(Path(sources[f.sha256]))
            if (digest, size) != (f.sha256, f.size):
                raise IntegrityError(f"{v.ref}: {f.name} does not match its sha256")
    report = ImportReport()
    with reg._write() as s:
        new, report.present = _classify(reg, s, versions, source)  # again, under the write lock
        order = {"general": 0, "domain": 1, "router": 2}
        for v in sorted(new, key=lambda v: (order[v.kind], v.name, v.version)):
            _insert(reg, s, v, source)
            report.imported.append(v.ref)
        for v in versions:
            for alias in v.aliases:
                _apply_alias(s, v, alias, source, report)
    return report


def _insert(reg: Registry, s: Session, v: PortableVersion, source: str) -> None:
    db.lock_scope(s, v.scope)  # the same per-scope lock version allocation takes (PostgreSQL)
    bb = reg._backbone_row(s, v.backbone)
    common = {
        "version": v.version, "backbone_id": bb.id, "config": _json(v.config), "metrics": _json(v.metrics),
        "created_at": v.created_at, "created_by": v.created_by,
    }
    if v.kind == "router":
        general_id = reg._member_id(s, "general", "general", v.general_version) if v.general_version else None
        row = RouterVersionRow(general_version_id=general_id, **common)
        s.add(row)
        s.flush()
        for pos, (name, version) in enumerate(v.domains):
            s.add(RouterMemberRow(router_version_id=row.id, position=pos, module_version_id=reg._member_id(s, "domain", name, version)))
        reg._add_files(s, "router_version", row.id, v.files)
    else:
        mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == v.kind, ModuleRow.name == v.name))
        if mod is None:
            mod = ModuleRow(kind=v.kind, name=v.name, description=v.description, created_at=now())
            s.add(mod)
            s.flush()
        parent_id = reg._member_id(s, v.kind, v.name, v.parent_version) if v.parent_version else None
        row = ModuleVersionRow(module_id=mod.id, parent_id=parent_id, data_fingerprint=v.data_fingerprint, **common)
        s.add(row)
        s.flush()
        reg._add_files(s, "module_version", row.id, v.files)
    s.add(AuditRow(at=now(), actor=actor(), action="import", target=v.scope, from_version=None, to_version=v.version, reason=source))
    s.flush()


def _apply_alias(s: Session, v: PortableVersion, alias: str, source: str, report: ImportReport) -> None:
    current = s.scalar(select(AliasRow.version).where(AliasRow.scope == v.scope, AliasRow.name == alias))
    if current == v.version:
        return
    if current is not None:
        report.aliases_kept.append(f"{v.scope}@{alias}: kept {current} ({source} has {v.version})")
        return
    _move(s, v.scope, alias, v.version, "alias.set", f"pulled from {source}")
    report.aliases_set.append(f"{v.scope}@{alias} -> {v.version}")


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
