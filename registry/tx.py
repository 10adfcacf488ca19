"""One transaction on the registry database: the only code that reads or writes rows.

:meth:`Registry.read` and :meth:`Registry.write` hand out a :class:`Tx`; registration, import (Hub
pull), alias moves, verify and gc all go through it, so a version's rows are built in exactly one
place (:meth:`Tx.insert_module`, :meth:`Tx.insert_router`) whichever way it enters the registry.
Rows never leave a transaction: every read returns frozen entities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ddr.errors import UsageError

from . import db
from .blobs import StoredFile
from .entities import Backbone, IndexRecord, ModuleVersion, RouterVersion
from .errors import NotFoundError
from .home import actor
from .limits import MAX_ACTOR, MAX_VERSION, check_json, check_text
from .refs import check_name
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
    SettingRow,
)
from .specs import HERE, IndexSpec, ModuleSpec, Origin, RouterSpec
from .tx_aliases import ANY, AliasOps, now  # noqa: F401 (ANY is part of this module's API)


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


@dataclass
class _Bulk:
    """Files and aliases of every version of one kind, read in one query each (``list`` on a big registry)."""

    files: dict[int, tuple[StoredFile, ...]]
    aliases: dict[tuple[str, int], tuple[str, ...]]
    backbones: dict[int, str] = field(default_factory=dict)  # backbone row id -> weights sha256
    members: dict[int, list[tuple[str, int]]] = field(default_factory=dict)


class Tx(AliasOps):
    """Row-level operations inside one open transaction."""

    def __init__(self, session: Session, store: str = "local") -> None:
        self.session = session
        self.store = store  # the store new file rows name: the registry's write store

    def lock(self, scope: str) -> None:
        db.lock_scope(self.session, scope)

    # ------------------------------------------------------------ shared rows
    def backbone_id(self, spec: dict[str, Any], source: str = "") -> int:
        """The backbone row for ``spec`` (created if new); ``source`` records where this machine loads it from."""
        sha = spec.get("weights_sha256") or ""
        if len(sha) != 64:
            raise UsageError("backbone identity needs its weights_sha256")
        self.lock("backbone")
        row = self.session.scalar(select(BackboneRow).where(BackboneRow.weights_sha256 == sha))
        if row is None:
            row = BackboneRow(
                name=spec.get("name", ""), weights_sha256=sha, num_layers=int(spec["num_layers"]), num_heads=int(spec["num_heads"]),
                head_dim=int(spec["head_dim"]), hidden_size=int(spec["hidden_size"]), created_at=now(), source=source,
            )
            self.session.add(row)
            self.session.flush()
        elif source and row.source != source:
            row.source = source
        return row.id

    def backbones(self) -> list[Backbone]:
        rows = self.session.scalars(select(BackboneRow).order_by(BackboneRow.id))
        return [Backbone(r.name, r.weights_sha256, r.num_layers, r.num_heads, r.head_dim, r.hidden_size, r.source) for r in rows]

    def files(self, owner_type: str, owner_id: int) -> tuple[StoredFile, ...]:
        rows = self.session.scalars(
            select(ArtifactFileRow).where(ArtifactFileRow.owner_type == owner_type, ArtifactFileRow.owner_id == owner_id).order_by(ArtifactFileRow.name)
        )
        return tuple(StoredFile(r.name, r.sha256, r.size, r.store) for r in rows)

    def _add_files(self, owner_type: str, owner_id: int, files: Sequence[StoredFile]) -> None:
        """Rows for files already in the write store (blobs first, rows after)."""
        for f in files:
            self.session.add(ArtifactFileRow(owner_type=owner_type, owner_id=owner_id, name=f.name, sha256=f.sha256, size=f.size,
                                             store=self.store))

    def all_files(self) -> list[tuple[str, int, StoredFile]]:
        """(owner type, owner id, file) of every artifact file row."""
        rows = self.session.scalars(select(ArtifactFileRow).order_by(ArtifactFileRow.owner_type, ArtifactFileRow.owner_id, ArtifactFileRow.name))
        return [(r.owner_type, r.owner_id, StoredFile(r.name, r.sha256, r.size, r.store)) for r in rows]

    def setting(self, key: str) -> str | None:
        row = self.session.get(SettingRow, key)
        return row.value if row else None

    def set_setting(self, key: str, value: str) -> None:
        row = self.session.get(SettingRow, key)
        if row is None:
            self.session.add(SettingRow(key=key, value=value))
        else:
            row.value = value

    def _next_version(self, origin: Origin, latest: int | None, scope: str) -> int:
        version = origin.version if origin.version is not None else (latest or 0) + 1
        if not 1 <= version <= MAX_VERSION:
            raise UsageError(f"{scope} cannot take version {version}: versions run from 1 to {MAX_VERSION}")
        return version

    def audit(self, action: str, target: str, from_v: int | None, to_v: int | None, reason: str = "") -> None:
        check_text(reason, "the reason")
        self.session.add(AuditRow(at=now(), actor=check_text(actor(), "the actor (DDR_ACTOR)", MAX_ACTOR), action=action, target=target,
                                  from_version=from_v, to_version=to_v, reason=reason))

    # ------------------------------------------------------------ modules
    def module_row(self, kind: str, name: str) -> ModuleRow | None:
        return self.session.scalar(select(ModuleRow).where(ModuleRow.kind == kind, ModuleRow.name == name))

    def _version_row(self, mod: ModuleRow, version: int) -> ModuleVersionRow | None:
        return self.session.scalar(select(ModuleVersionRow).where(ModuleVersionRow.module_id == mod.id, ModuleVersionRow.version == version))

    def _module_version_id(self, kind: str, name: str, version: int) -> int:
        mod = self.module_row(kind, name)
        if mod is None:
            raise NotFoundError(f"no {kind} module named {name!r}")
        row = self._version_row(mod, version)
        if row is None:
            raise NotFoundError(f"{kind}/{name}@{version} does not exist")
        return row.id

    def latest_module_version(self, mod: ModuleRow) -> int | None:
        return self.session.scalar(select(func.max(ModuleVersionRow.version)).where(ModuleVersionRow.module_id == mod.id))

    def insert_module(self, spec: ModuleSpec, files: Sequence[StoredFile], origin: Origin = HERE) -> ModuleVersion:
        """The rows of one module version, its files and its audit entry."""
        if spec.kind not in ("general", "domain"):
            raise UsageError(f"module kind must be general or domain, got {spec.kind!r}")
        check_name(spec.name, "module name")
        scope = f"{spec.kind}/{spec.name}"
        _check_bounds(scope, origin, spec.config, spec.metrics, spec.train_config)
        check_text(spec.description or "", f"{scope}: the description")
        check_text(spec.instruction or "", f"{scope}: the instruction")
        check_text(spec.data_fingerprint or "", f"{scope}: the data fingerprint", MAX_ACTOR)
        self.lock(scope)
        backbone_id = self.backbone_id(spec.backbone, spec.backbone_source)
        mod = self.module_row(spec.kind, spec.name)
        if mod is None:
            mod = ModuleRow(kind=spec.kind, name=spec.name, description=spec.description or "", created_at=now())
            self.session.add(mod)
            self.session.flush()
        elif spec.description is not None and spec.description != mod.description:
            mod.description = spec.description
        parent_id = self._module_version_id(spec.kind, spec.name, spec.parent) if spec.parent is not None else None
        version = self._next_version(origin, self.latest_module_version(mod), scope)
        row = ModuleVersionRow(
            module_id=mod.id, version=version, backbone_id=backbone_id, parent_id=parent_id, config=_json(spec.config),
            data_fingerprint=spec.data_fingerprint, metrics=_json(spec.metrics or {}), data_paths=json.dumps(list(spec.data_paths)),
            instruction=spec.instruction or "", train_config=_json(spec.train_config or {}),
            created_at=origin.created_at or now(), created_by=actor() if origin.created_by is None else origin.created_by,
        )
        self.session.add(row)
        self.session.flush()
        self._add_files("module_version", row.id, files)
        self.audit(origin.action, scope, None, version, origin.reason)
        self.session.flush()
        return self._module_entity(mod, row)

    def _module_entity(self, mod: ModuleRow, row: ModuleVersionRow, bulk: _Bulk | None = None) -> ModuleVersion:
        parent = self.session.get(ModuleVersionRow, row.parent_id) if row.parent_id else None
        scope = f"{mod.kind}/{mod.name}"
        return ModuleVersion(
            kind=mod.kind, name=mod.name, version=row.version, backbone_sha256=self._backbone_sha(row.backbone_id, bulk),
            config=json.loads(row.config), files=bulk.files.get(row.id, ()) if bulk else self.files("module_version", row.id),
            parent_version=parent.version if parent else None,
            data_fingerprint=row.data_fingerprint, metrics=json.loads(row.metrics), created_at=row.created_at, created_by=row.created_by,
            description=mod.description, aliases=bulk.aliases.get((scope, row.version), ()) if bulk else self.aliases_of(scope, row.version),
            data_paths=tuple(json.loads(row.data_paths)), instruction=row.instruction, train_config=json.loads(row.train_config),
        )

    def find_module(self, kind: str, name: str, version: int) -> ModuleVersion | None:
        mod = self.module_row(kind, name)
        row = self._version_row(mod, version) if mod is not None else None
        return self._module_entity(mod, row) if row is not None else None

    def module_version(self, kind: str, name: str, version: int | None = None, alias: str | None = None) -> ModuleVersion:
        """One module version: by number, by alias, or the latest."""
        mod = self.module_row(kind, name)
        if mod is None:
            raise NotFoundError(f"no {kind} module named {name!r}")
        version = self._pick(f"{kind}/{name}", version, alias, self.latest_module_version(mod))
        found = self.find_module(kind, name, version)
        if found is None:
            raise NotFoundError(f"{kind}/{name}@{version} does not exist")
        return found

    def module_versions(self) -> list[ModuleVersion]:
        rows = self.session.execute(
            select(ModuleRow, ModuleVersionRow)
            .join(ModuleVersionRow, ModuleVersionRow.module_id == ModuleRow.id)
            .order_by(ModuleRow.kind, ModuleRow.name, ModuleVersionRow.version)
        ).all()
        bulk = self._bulk("module_version")  # two queries for all files and aliases, not two per version
        return [self._module_entity(m, v, bulk) for m, v in rows]

    def _backbone_sha(self, backbone_id: int, bulk: _Bulk | None) -> str:
        if bulk is not None and backbone_id in bulk.backbones:
            return bulk.backbones[backbone_id]
        return self.session.get(BackboneRow, backbone_id).weights_sha256

    def _bulk(self, owner_type: str) -> _Bulk:
        files: dict[int, list[StoredFile]] = {}
        for r in self.session.scalars(select(ArtifactFileRow).where(ArtifactFileRow.owner_type == owner_type)
                                      .order_by(ArtifactFileRow.owner_id, ArtifactFileRow.name)):
            files.setdefault(r.owner_id, []).append(StoredFile(r.name, r.sha256, r.size, r.store))
        aliases: dict[tuple[str, int], list[str]] = {}
        for r in self.session.scalars(select(AliasRow).order_by(AliasRow.scope, AliasRow.name)):
            aliases.setdefault((r.scope, r.version), []).append(r.name)
        backbones = {i: sha for i, sha in self.session.execute(select(BackboneRow.id, BackboneRow.weights_sha256))}
        return _Bulk({k: tuple(v) for k, v in files.items()}, {k: tuple(v) for k, v in aliases.items()}, backbones)

    def _pick(self, scope: str, version: int | None, alias: str | None, latest: int | None) -> int:
        if version is not None:
            return version
        if alias is not None:
            target = self.alias_target(scope, alias)
            if target is None:
                raise NotFoundError(f"alias {alias!r} is not set on {scope}")
            return target
        if latest is None:
            raise NotFoundError(f"{scope} has no versions")
        return latest

    # ------------------------------------------------------------ routers
    def insert_router(self, spec: RouterSpec, files: Sequence[StoredFile], origin: Origin = HERE) -> RouterVersion:
        """The rows of one router version (its ordered members), its files and its audit entry."""
        _check_bounds("router", origin, spec.config, spec.metrics)
        self.lock("router")
        backbone_id = self.backbone_id(spec.backbone, spec.backbone_source)
        member_ids = [self._module_version_id("domain", n, v) for n, v in spec.domains]
        general_id = self._module_version_id("general", "general", spec.general_version) if spec.general_version else None
        version = self._next_version(origin, self.session.scalar(select(func.max(RouterVersionRow.version))), "router")
        row = RouterVersionRow(
            version=version, backbone_id=backbone_id, general_version_id=general_id, config=_json(spec.config), metrics=_json(spec.metrics or {}),
            created_at=origin.created_at or now(), created_by=actor() if origin.created_by is None else origin.created_by,
        )
        self.session.add(row)
        self.session.flush()
        for pos, mid in enumerate(member_ids):
            self.session.add(RouterMemberRow(router_version_id=row.id, position=pos, module_version_id=mid))
        self._add_files("router_version", row.id, files)
        self.audit(origin.action, "router", None, version, origin.reason)
        self.session.flush()
        return self._router_entity(row)

    def _router_entity(self, row: RouterVersionRow, bulk: _Bulk | None = None) -> RouterVersion:
        members = bulk.members.get(row.id, []) if bulk else self.session.execute(
            select(ModuleRow.name, ModuleVersionRow.version)
            .join(ModuleVersionRow, ModuleVersionRow.module_id == ModuleRow.id)
            .join(RouterMemberRow, RouterMemberRow.module_version_id == ModuleVersionRow.id)
            .where(RouterMemberRow.router_version_id == row.id)
            .order_by(RouterMemberRow.position)
        ).all()
        general = self.session.get(ModuleVersionRow, row.general_version_id) if row.general_version_id else None
        return RouterVersion(
            version=row.version, backbone_sha256=self._backbone_sha(row.backbone_id, bulk),
            general_version=general.version if general else None, domains=tuple((n, v) for n, v in members), config=json.loads(row.config),
            files=bulk.files.get(row.id, ()) if bulk else self.files("router_version", row.id), metrics=json.loads(row.metrics),
            created_at=row.created_at, created_by=row.created_by,
            aliases=bulk.aliases.get(("router", row.version), ()) if bulk else self.aliases_of("router", row.version),
        )

    def find_router(self, version: int) -> RouterVersion | None:
        row = self.session.scalar(select(RouterVersionRow).where(RouterVersionRow.version == version))
        return self._router_entity(row) if row is not None else None

    def router_version(self, version: int | None = None, alias: str | None = None) -> RouterVersion:
        version = self._pick("router", version, alias, self.session.scalar(select(func.max(RouterVersionRow.version))))
        found = self.find_router(version)
        if found is None:
            raise NotFoundError(f"router@{version} does not exist")
        return found

    def router_versions(self) -> list[RouterVersion]:
        bulk = self._bulk("router_version")
        for rid, name, version in self.session.execute(
            select(RouterMemberRow.router_version_id, ModuleRow.name, ModuleVersionRow.version)
            .join(ModuleVersionRow, RouterMemberRow.module_version_id == ModuleVersionRow.id)
            .join(ModuleRow, ModuleVersionRow.module_id == ModuleRow.id)
            .order_by(RouterMemberRow.router_version_id, RouterMemberRow.position)
        ):
            bulk.members.setdefault(rid, []).append((name, version))
        return [self._router_entity(r, bulk) for r in self.session.scalars(select(RouterVersionRow).order_by(RouterVersionRow.version))]

    # ------------------------------------------------------------ indexes
    def insert_index(self, spec: IndexSpec, files: Sequence[StoredFile]) -> IndexRecord:
        name = spec.name
        check_name(name, "index name")
        self.lock(f"index/{name}")
        backbone_id = self.backbone_id(spec.backbone, spec.backbone_source)
        general_id = self._module_version_id("general", "general", spec.general_version) if spec.general_version else None
        latest = self.session.scalar(select(func.max(IndexRecordRow.version)).where(IndexRecordRow.name == name))
        version = self._next_version(HERE, latest, f"index/{name}")
        row = IndexRecordRow(
            name=name, version=version, general_version_id=general_id, backbone_id=backbone_id, corpus_fingerprint=spec.corpus_fingerprint,
            params=_json(spec.params), created_at=now(), created_by=actor(),
        )
        self.session.add(row)
        self.session.flush()
        self._add_files("index_record", row.id, files)
        self.audit("register", f"index/{name}", None, version)
        self.session.flush()
        return self._index_entity(row)

    def _index_entity(self, row: IndexRecordRow) -> IndexRecord:
        general = self.session.get(ModuleVersionRow, row.general_version_id) if row.general_version_id else None
        return IndexRecord(
            name=row.name, version=row.version, general_version=general.version if general else None,
            backbone_sha256=self.session.get(BackboneRow, row.backbone_id).weights_sha256, corpus_fingerprint=row.corpus_fingerprint,
            params=json.loads(row.params), files=self.files("index_record", row.id), created_at=row.created_at, created_by=row.created_by,
        )

    def index_records(self, name: str | None = None) -> list[IndexRecord]:
        q = select(IndexRecordRow).order_by(IndexRecordRow.name, IndexRecordRow.version)
        if name is not None:
            q = q.where(IndexRecordRow.name == name)
        return [self._index_entity(r) for r in self.session.scalars(q)]


def _check_bounds(scope: str, origin: Origin, config: Any, metrics: Any, train_config: Any = None) -> None:
    """What :mod:`.limits` allows, so a registry never holds what another would refuse."""
    for what, value in (("config", config), ("metrics", metrics), ("training config", train_config or {})):
        check_json(value, f"{scope}: the {what}")
    if origin.created_by is not None:
        check_text(origin.created_by, f"{scope}: created_by", MAX_ACTOR)
