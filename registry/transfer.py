"""Versions that travel between registries (Hub push and pull), keeping their version numbers.

A :class:`PortableVersion` is one module or router version with everything needed to recreate it
elsewhere: files, backbone identity, config, lineage, metrics and aliases. :func:`import_versions`
brings a batch of them in: a version already here with identical content is recognised and skipped,
one with the same number but other content is refused, and the rows of every new version, its audit
entry and the alias moves land in one transaction, so a refused import changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ddr.errors import UsageError

from .blobs import StoredFile
from .entities import ModuleVersion, RouterVersion
from .errors import ConflictError, IntegrityError
from .layout import CORE_FILES
from .refs import check_name
from .store import Registry
from .tx import ModuleSpec, Origin, RouterSpec, Tx

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
    instruction: str = ""
    train_config: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return "router" if self.kind == "router" else f"{self.kind}/{self.name}"

    @property
    def ref(self) -> str:
        return f"{self.scope}@{self.version}"

    def identity(self) -> tuple:
        """What must match for two registries to hold "the same" version: core content and lineage.

        A domain version pushed without its replay set and gate data is still the same version.
        """
        files = tuple(sorted((f.name, f.sha256, f.size) for f in self.files if f.name in CORE_FILES))
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
    backbone = next(b.portable() for b in reg.backbones() if b.weights_sha256 == entity.backbone_sha256)
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
        data_fingerprint=entity.data_fingerprint, instruction=entity.instruction, train_config=entity.train_config, **common,
    )


def _local(tx: Tx, v: PortableVersion) -> PortableVersion | None:
    entity = tx.find_router(v.version) if v.kind == "router" else tx.find_module(v.kind, v.name, v.version)
    return _portable(entity, {"weights_sha256": entity.backbone_sha256}) if entity else None


def _classify(tx: Tx, versions: Sequence[PortableVersion], source: str) -> tuple[list[PortableVersion], list[str]]:
    """Split into (new, already present); refuse a version that exists here with other content."""
    new, present = [], []
    for v in versions:
        mine = _local(tx, v)
        if mine is None:
            new.append(v)
        elif mine.identity() == v.identity():
            present.append(v.ref)
        else:
            raise ConflictError(
                f"{v.ref} exists here with different content than in {source}; nothing was imported "
                "(versions are immutable: rename or remove one side first)"
            )
    _check_references(tx, versions, source)
    return new, present


def _check_references(tx: Tx, versions: Sequence[PortableVersion], source: str) -> None:
    """Every parent, router member and general version must come along or already be here."""
    incoming = {(v.kind, v.name, v.version) for v in versions}

    def known(kind: str, name: str, version: int) -> bool:
        return (kind, name, version) in incoming or tx.find_module(kind, name, version) is not None

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
    with reg.read() as tx:
        return _classify(tx, versions, source)


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
    with reg.write() as tx:
        new, report.present = _classify(tx, versions, source)  # again, under the write lock
        order = {"general": 0, "domain": 1, "router": 2}
        for v in sorted(new, key=lambda v: (order[v.kind], v.name, v.version)):
            _insert(tx, v, source)
            report.imported.append(v.ref)
        for v in versions:
            for alias in v.aliases:
                _apply_alias(tx, v, alias, source, report)
    return report


def _insert(tx: Tx, v: PortableVersion, source: str) -> None:
    """Through the same insert path as a registration, keeping number, time and author."""
    origin = Origin(version=v.version, created_at=v.created_at, created_by=v.created_by, action="import", reason=source)
    if v.kind == "router":
        tx.insert_router(RouterSpec(v.config, v.backbone, v.domains, v.general_version, v.metrics), v.files, origin)
        return
    description = v.description if tx.module_row(v.kind, v.name) is None else None  # a local description stays
    spec = ModuleSpec(
        v.kind, v.name, v.config, v.backbone, parent=v.parent_version, data_fingerprint=v.data_fingerprint, metrics=v.metrics,
        description=description, instruction=v.instruction, train_config=v.train_config,
    )
    tx.insert_module(spec, v.files, origin)


def _apply_alias(tx: Tx, v: PortableVersion, alias: str, source: str, report: ImportReport) -> None:
    current = tx.alias_target(v.scope, alias)
    if current == v.version:
        return
    if current is not None:
        report.aliases_kept.append(f"{v.scope}@{alias}: kept {current} ({source} has {v.version})")
        return
    tx.move_alias(v.scope, alias, v.version, "alias.set", f"pulled from {source}")
    report.aliases_set.append(f"{v.scope}@{alias} -> {v.version}")
