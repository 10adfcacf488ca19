"""The registry API: register immutable versions, resolve references, list.

Aliases, rollback and the audit log live in :mod:`ddr.registry.aliases`; verify and gc in
:mod:`ddr.registry.maintenance`. All of them share this class's engine and blob store.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ddr.errors import UsageError

from . import db
from .blobs import BlobStore, StoredFile
from .entities import Backbone, IndexRecord, ModuleVersion, RouterVersion
from .errors import NotFoundError
from .home import actor, default_db_url, default_home
from .refs import Ref, check_name, parse_ref
from .schema import (
    AliasRow,
    ArtifactFileRow,
    AuditRow,
    BackboneRow,
    IndexRecordRow,
    ModuleRow,
    ModuleVersionRow,
    RouterMemberRow,
    RouterVersionRow,
)

UPGRADE_HINT = "ddr-registry db upgrade"


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class ModuleSpec:
    """Everything needed to register one module version (its files are in ``folder``)."""

    kind: str
    name: str
    folder: Path
    config: dict[str, Any]
    backbone: dict[str, Any]
    parent: int | None = None
    data_fingerprint: str = ""
    metrics: dict[str, Any] | None = None
    description: str | None = None


class Registry:
    """A registry home (artifact store) plus its database."""

    def __init__(self, home: str | Path | None = None, db_url: str | None = None, check: bool = True) -> None:
        self.home = Path(home).expanduser() if home else default_home()
        self.db_url = db_url or default_db_url(self.home)
        self.blobs = BlobStore(self.home)
        sqlite_file = self.db_url.removeprefix("sqlite:///") if self.db_url.startswith("sqlite:///") else None
        if check and sqlite_file and not Path(sqlite_file).exists():
            raise NotFoundError(f"no registry at {self.home}; run: ddr-registry --home {self.home} init")
        self.engine = db.make_engine(self.db_url)
        if check:
            db.check_schema(self.engine, f"{UPGRADE_HINT} --home {self.home}")

    @classmethod
    def init(cls, home: str | Path | None = None, db_url: str | None = None) -> Registry:
        """Create (or upgrade) the registry: home folders and schema at head. Idempotent."""
        reg = cls(home, db_url, check=False)
        reg.blobs.ensure()
        db.upgrade(reg.engine)
        return reg

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------- helpers
    def _write(self):
        return db.transaction(self.engine, write=True)

    def _read(self):
        return db.transaction(self.engine, write=False)

    def _backbone_row(self, s: Session, spec: dict[str, Any]) -> BackboneRow:
        sha = spec.get("weights_sha256") or ""
        if len(sha) != 64:
            raise UsageError("backbone identity needs its weights_sha256")
        db.lock_scope(s, "backbone")
        row = s.scalar(select(BackboneRow).where(BackboneRow.weights_sha256 == sha))
        if row is None:
            row = BackboneRow(
                name=spec.get("name", ""),
                weights_sha256=sha,
                num_layers=int(spec["num_layers"]),
                num_heads=int(spec["num_heads"]),
                head_dim=int(spec["head_dim"]),
                hidden_size=int(spec["hidden_size"]),
                created_at=now(),
            )
            s.add(row)
            s.flush()
        return row

    def _files(self, s: Session, owner_type: str, owner_id: int) -> tuple[StoredFile, ...]:
        rows = s.scalars(
            select(ArtifactFileRow)
            .where(ArtifactFileRow.owner_type == owner_type, ArtifactFileRow.owner_id == owner_id)
            .order_by(ArtifactFileRow.name)
        )
        return tuple(StoredFile(r.name, r.sha256, r.size) for r in rows)

    def _add_files(self, s: Session, owner_type: str, owner_id: int, files: Sequence[StoredFile]) -> None:
        for f in files:
            s.add(ArtifactFileRow(owner_type=owner_type, owner_id=owner_id, name=f.name, sha256=f.sha256, size=f.size))

    def _aliases(self, s: Session, scope: str, version: int) -> tuple[str, ...]:
        rows = s.scalars(select(AliasRow.name).where(AliasRow.scope == scope, AliasRow.version == version).order_by(AliasRow.name))
        return tuple(rows)

    def _audit(self, s: Session, action: str, target: str, from_v: int | None, to_v: int | None, reason: str = "") -> None:
        s.add(AuditRow(at=now(), actor=actor(), action=action, target=target, from_version=from_v, to_version=to_v, reason=reason))

    # ---------------------------------------------------------------- modules
    def register_module(
        self,
        kind: str,
        name: str,
        folder: str | Path,
        config: dict[str, Any],
        backbone: dict[str, Any],
        parent: int | None = None,
        data_fingerprint: str = "",
        metrics: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> ModuleVersion:
        """Store the folder's files, then allocate the next version of ``kind/name`` in SQL."""
        spec = ModuleSpec(kind, name, Path(folder), config, backbone, parent, data_fingerprint, metrics, description)
        files = self.blobs.put_folder(spec.folder)  # blobs first: a crash here leaves no row
        with self._write() as s:
            return self._insert_module(s, spec, files)

    def register_domain_and_router(
        self, module: ModuleSpec, router_folder: str | Path, router_config: dict[str, Any], domains: Sequence[tuple[str, int | None]],
        general_version: int | None, router_metrics: dict[str, Any] | None = None,
    ) -> tuple[ModuleVersion, RouterVersion]:
        """A new module version and a router over it, in one transaction: both or neither.

        In ``domains`` the new module's entry carries version None (it is allocated here).
        """
        module_files = self.blobs.put_folder(module.folder)
        router_files = self.blobs.put_folder(Path(router_folder))
        with self._write() as s:
            mv = self._insert_module(s, module, module_files)
            resolved = [(n, mv.version if (v is None and n == module.name) else v) for n, v in domains]
            rv = self._insert_router(s, router_files, router_config, module.backbone, resolved, general_version, router_metrics)
            return mv, rv

    def _insert_module(self, s: Session, spec: ModuleSpec, files: Sequence[StoredFile]) -> ModuleVersion:
        if spec.kind not in ("general", "domain"):
            raise UsageError(f"module kind must be general or domain, got {spec.kind!r}")
        check_name(spec.name, "module name")
        scope = f"{spec.kind}/{spec.name}"
        db.lock_scope(s, scope)
        bb = self._backbone_row(s, spec.backbone)
        mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == spec.kind, ModuleRow.name == spec.name))
        if mod is None:
            mod = ModuleRow(kind=spec.kind, name=spec.name, description=spec.description or "", created_at=now())
            s.add(mod)
            s.flush()
        elif spec.description is not None and spec.description != mod.description:
            mod.description = spec.description
        parent_id = self._module_version_row(s, mod, spec.parent).id if spec.parent is not None else None
        version = (s.scalar(select(func.max(ModuleVersionRow.version)).where(ModuleVersionRow.module_id == mod.id)) or 0) + 1
        row = ModuleVersionRow(
            module_id=mod.id,
            version=version,
            backbone_id=bb.id,
            parent_id=parent_id,
            config=json.dumps(spec.config, sort_keys=True),
            data_fingerprint=spec.data_fingerprint,
            metrics=json.dumps(spec.metrics or {}, sort_keys=True),
            created_at=now(),
            created_by=actor(),
        )
        s.add(row)
        s.flush()
        self._add_files(s, "module_version", row.id, files)
        self._audit(s, "register", scope, None, version)
        s.flush()
        return self._module_entity(s, mod, row)

    def _module_version_row(self, s: Session, mod: ModuleRow, version: int) -> ModuleVersionRow:
        row = s.scalar(select(ModuleVersionRow).where(ModuleVersionRow.module_id == mod.id, ModuleVersionRow.version == version))
        if row is None:
            raise NotFoundError(f"{mod.kind}/{mod.name}@{version} does not exist")
        return row

    def _module_entity(self, s: Session, mod: ModuleRow, row: ModuleVersionRow) -> ModuleVersion:
        parent = s.get(ModuleVersionRow, row.parent_id) if row.parent_id else None
        return ModuleVersion(
            kind=mod.kind,
            name=mod.name,
            version=row.version,
            backbone_sha256=s.get(BackboneRow, row.backbone_id).weights_sha256,
            config=json.loads(row.config),
            files=self._files(s, "module_version", row.id),
            parent_version=parent.version if parent else None,
            data_fingerprint=row.data_fingerprint,
            metrics=json.loads(row.metrics),
            created_at=row.created_at,
            created_by=row.created_by,
            description=mod.description,
            aliases=self._aliases(s, f"{mod.kind}/{mod.name}", row.version),
        )

    def _resolve_version(self, s: Session, ref: Ref, latest: int | None) -> int:
        if ref.version is not None:
            return ref.version
        if ref.alias is not None:
            v = s.scalar(select(AliasRow.version).where(AliasRow.scope == ref.scope, AliasRow.name == ref.alias))
            if v is None:
                raise NotFoundError(f"alias {ref.alias!r} is not set on {ref.scope}")
            return v
        if latest is None:
            raise NotFoundError(f"{ref.scope} has no versions")
        return latest

    def module_version(self, ref: str | Ref) -> ModuleVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.kind == "router":
            raise UsageError(f"{ref} is a router reference, not a module")
        with self._read() as s:
            mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == ref.kind, ModuleRow.name == ref.name))
            if mod is None:
                raise NotFoundError(f"no {ref.kind} module named {ref.name!r}")
            latest = s.scalar(select(func.max(ModuleVersionRow.version)).where(ModuleVersionRow.module_id == mod.id))
            version = self._resolve_version(s, ref, latest)
            return self._module_entity(s, mod, self._module_version_row(s, mod, version))

    def module_versions(self) -> list[ModuleVersion]:
        with self._read() as s:
            rows = s.execute(
                select(ModuleRow, ModuleVersionRow)
                .join(ModuleVersionRow, ModuleVersionRow.module_id == ModuleRow.id)
                .order_by(ModuleRow.kind, ModuleRow.name, ModuleVersionRow.version)
            ).all()
            return [self._module_entity(s, m, v) for m, v in rows]

    # ---------------------------------------------------------------- routers
    def register_router(
        self,
        folder: str | Path,
        config: dict[str, Any],
        backbone: dict[str, Any],
        domains: Sequence[tuple[str, int]],
        general_version: int | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> RouterVersion:
        """Register a router over exactly these domain-module versions (in this order)."""
        files = self.blobs.put_folder(Path(folder))
        with self._write() as s:
            return self._insert_router(s, files, config, backbone, domains, general_version, metrics)

    def _insert_router(self, s, files, config, backbone, domains, general_version, metrics) -> RouterVersion:
        db.lock_scope(s, "router")
        bb = self._backbone_row(s, backbone)
        member_ids = [self._member_id(s, "domain", n, v) for n, v in domains]
        general_id = self._member_id(s, "general", "general", general_version) if general_version else None
        version = (s.scalar(select(func.max(RouterVersionRow.version))) or 0) + 1
        row = RouterVersionRow(
            version=version,
            backbone_id=bb.id,
            general_version_id=general_id,
            config=json.dumps(config, sort_keys=True),
            metrics=json.dumps(metrics or {}, sort_keys=True),
            created_at=now(),
            created_by=actor(),
        )
        s.add(row)
        s.flush()
        for pos, mid in enumerate(member_ids):
            s.add(RouterMemberRow(router_version_id=row.id, position=pos, module_version_id=mid))
        self._add_files(s, "router_version", row.id, files)
        self._audit(s, "register", "router", None, version)
        s.flush()
        return self._router_entity(s, row)

    def _member_id(self, s: Session, kind: str, name: str, version: int) -> int:
        mod = s.scalar(select(ModuleRow).where(ModuleRow.kind == kind, ModuleRow.name == name))
        if mod is None:
            raise NotFoundError(f"no {kind} module named {name!r}")
        return self._module_version_row(s, mod, version).id

    def _router_entity(self, s: Session, row: RouterVersionRow) -> RouterVersion:
        members = s.execute(
            select(ModuleRow.name, ModuleVersionRow.version)
            .join(ModuleVersionRow, ModuleVersionRow.module_id == ModuleRow.id)
            .join(RouterMemberRow, RouterMemberRow.module_version_id == ModuleVersionRow.id)
            .where(RouterMemberRow.router_version_id == row.id)
            .order_by(RouterMemberRow.position)
        ).all()
        general = s.get(ModuleVersionRow, row.general_version_id) if row.general_version_id else None
        return RouterVersion(
            version=row.version,
            backbone_sha256=s.get(BackboneRow, row.backbone_id).weights_sha256,
            general_version=general.version if general else None,
            domains=tuple((n, v) for n, v in members),
            config=json.loads(row.config),
            files=self._files(s, "router_version", row.id),
            metrics=json.loads(row.metrics),
            created_at=row.created_at,
            created_by=row.created_by,
            aliases=self._aliases(s, "router", row.version),
        )

    def router_version(self, ref: str | Ref = "router@production") -> RouterVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.kind != "router":
            raise UsageError(f"{ref} is a module reference, not a router")
        with self._read() as s:
            version = self._resolve_version(s, ref, s.scalar(select(func.max(RouterVersionRow.version))))
            row = s.scalar(select(RouterVersionRow).where(RouterVersionRow.version == version))
            if row is None:
                raise NotFoundError(f"router@{version} does not exist")
            return self._router_entity(s, row)

    def router_versions(self) -> list[RouterVersion]:
        with self._read() as s:
            return [self._router_entity(s, r) for r in s.scalars(select(RouterVersionRow).order_by(RouterVersionRow.version))]

    def resolve(self, ref: str | Ref) -> ModuleVersion | RouterVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        return self.router_version(ref) if ref.kind == "router" else self.module_version(ref)

    # ---------------------------------------------------------------- indexes
    def register_index(
        self,
        name: str,
        folder: str | Path,
        backbone: dict[str, Any],
        corpus_fingerprint: str,
        general_version: int | None,
        params: dict[str, Any],
    ) -> IndexRecord:
        check_name(name, "index name")
        files = self.blobs.put_folder(Path(folder))
        with self._write() as s:
            db.lock_scope(s, f"index/{name}")
            bb = self._backbone_row(s, backbone)
            general_id = self._member_id(s, "general", "general", general_version) if general_version else None
            version = (s.scalar(select(func.max(IndexRecordRow.version)).where(IndexRecordRow.name == name)) or 0) + 1
            row = IndexRecordRow(
                name=name,
                version=version,
                general_version_id=general_id,
                backbone_id=bb.id,
                corpus_fingerprint=corpus_fingerprint,
                params=json.dumps(params, sort_keys=True),
                created_at=now(),
                created_by=actor(),
            )
            s.add(row)
            s.flush()
            self._add_files(s, "index_record", row.id, files)
            self._audit(s, "register", f"index/{name}", None, version)
            s.flush()
            return self._index_entity(s, row)

    def _index_entity(self, s: Session, row: IndexRecordRow) -> IndexRecord:
        general = s.get(ModuleVersionRow, row.general_version_id) if row.general_version_id else None
        return IndexRecord(
            name=row.name,
            version=row.version,
            general_version=general.version if general else None,
            backbone_sha256=s.get(BackboneRow, row.backbone_id).weights_sha256,
            corpus_fingerprint=row.corpus_fingerprint,
            params=json.loads(row.params),
            files=self._files(s, "index_record", row.id),
            created_at=row.created_at,
            created_by=row.created_by,
        )

    def index_records(self, name: str | None = None) -> list[IndexRecord]:
        with self._read() as s:
            q = select(IndexRecordRow).order_by(IndexRecordRow.name, IndexRecordRow.version)
            if name is not None:
                q = q.where(IndexRecordRow.name == name)
            return [self._index_entity(s, r) for r in s.scalars(q)]

    def backbones(self) -> list[Backbone]:
        with self._read() as s:
            return [
                Backbone(r.name, r.weights_sha256, r.num_layers, r.num_heads, r.head_dim, r.hidden_size)
                for r in s.scalars(select(BackboneRow).order_by(BackboneRow.id))
            ]

    # ---------------------------------------------------------------- files
    def export(self, ref: str | Ref, dest: str | Path) -> Path:
        """Verify a version's files against their sha256 and copy them into ``dest``."""
        entity = self.resolve(ref)
        return self.blobs.materialize(list(entity.files), Path(dest), entity.ref)

    def export_index(self, record: IndexRecord, dest: str | Path) -> Path:
        """Verify an index's files and copy them into ``dest``."""
        return self.blobs.materialize(list(record.files), Path(dest), f"index/{record.name}@{record.version}")

    def check_files(self, entity: ModuleVersion | RouterVersion | IndexRecord) -> None:
        what = entity.ref if hasattr(entity, "ref") else f"index/{entity.name}@{entity.version}"
        for f in entity.files:
            self.blobs.check(f, what)
