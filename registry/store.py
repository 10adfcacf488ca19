"""The registry API: register immutable versions, resolve references, list.

One public way in: :meth:`Registry.read` and :meth:`Registry.write` open a transaction and hand out
a :class:`~ddr.registry.tx.Tx`, the only code that touches rows. Aliases, rollback and the audit log
live in :mod:`ddr.registry.aliases`, verify and gc in :mod:`ddr.registry.maintenance`, import of
versions made elsewhere in :mod:`ddr.registry.transfer`; all of them go through those two doors.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ddr.errors import UsageError

from . import db
from .artifacts import ENV as ARTIFACTS_ENV
from .artifacts import Artifacts
from .blobs import LOCAL
from .entities import Backbone, IndexRecord, ModuleVersion, RouterVersion
from .errors import NotFoundError
from .home import default_db_url, default_home
from .refs import Ref, parse_ref
from .specs import IndexSpec, ModuleSpec, RouterSpec
from .tx import Tx

UPGRADE_HINT = "ddr-registry db upgrade"


class Registry:
    """A registry home (artifact store) plus its database."""

    def __init__(self, home: str | Path | None = None, db_url: str | None = None, check: bool = True, artifacts: str | None = None) -> None:
        self.home = Path(home).expanduser() if home else default_home()
        self.db_url = db_url or default_db_url(self.home)
        # where new files go: said here (--artifacts / DDR_ARTIFACTS), else recorded at init, else local
        self.artifacts_explicit = artifacts or os.environ.get(ARTIFACTS_ENV) or None
        self.blobs = Artifacts(self.home, self.artifacts_explicit or LOCAL)
        sqlite_file = self.db_url.removeprefix("sqlite:///") if self.db_url.startswith("sqlite:///") else None
        if check and sqlite_file and not Path(sqlite_file).exists():
            raise NotFoundError(f"no registry at {self.home}; run: ddr-registry --home {self.home} init")
        self.engine = db.make_engine(self.db_url)
        if check:
            db.check_schema(self.engine, f"{UPGRADE_HINT} --home {self.home}")
            self._adopt_recorded_store()

    def _adopt_recorded_store(self) -> None:
        if self.artifacts_explicit:
            return
        with self.read() as tx:
            recorded = tx.setting("artifacts")
        if recorded and recorded != self.blobs.uri:
            self.blobs = Artifacts(self.home, recorded)

    @classmethod
    def init(cls, home: str | Path | None = None, db_url: str | None = None, artifacts: str | None = None) -> Registry:
        """Create (or upgrade) the registry: home folders and schema at head. Idempotent.

        With ``artifacts`` (or ``DDR_ARTIFACTS``) the store is checked and recorded as the registry's
        default, so every home of a shared database writes there without being told.
        """
        reg = cls(home, db_url, check=False, artifacts=artifacts)
        reg.blobs.ensure()
        db.upgrade(reg.engine)
        if reg.artifacts_explicit:
            with reg.write() as tx:
                tx.set_setting("artifacts", reg.blobs.uri)
        else:
            reg._adopt_recorded_store()
        return reg

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        """A read transaction."""
        with db.transaction(self.engine, write=False) as session:
            yield Tx(session, self.blobs.uri)

    @contextlib.contextmanager
    def write(self) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back on any error."""
        with db.transaction(self.engine, write=True) as session:
            yield Tx(session, self.blobs.uri)

    # ---------------------------------------------------------------- registration
    def register_module(
        self, kind: str, name: str, folder: str | Path, config: dict[str, Any], backbone: dict[str, Any], **facts: Any
    ) -> ModuleVersion:
        """Store the folder's files, then allocate the next version of ``kind/name`` in SQL.

        ``facts``: the other :class:`~ddr.registry.tx.ModuleSpec` fields (parent, data_fingerprint,
        metrics, description, data_paths, instruction, train_config).
        """
        return self.register(ModuleSpec(kind, name, config, backbone, **facts), folder)

    def register(self, spec: ModuleSpec, folder: str | Path) -> ModuleVersion:
        files = self.blobs.put_folder(Path(folder))  # blobs first: a crash here leaves no row
        with self.write() as tx:
            return tx.insert_module(spec, files)

    def register_router(self, spec: RouterSpec, folder: str | Path) -> RouterVersion:
        """Store the folder's files, then register a router over exactly ``spec.domains`` (in this order)."""
        files = self.blobs.put_folder(Path(folder))
        with self.write() as tx:
            return tx.insert_router(replace(spec, domains=tuple(spec.domains)), files)

    def register_domain_and_router(
        self, module: ModuleSpec, module_folder: str | Path, router: RouterSpec, router_folder: str | Path
    ) -> tuple[ModuleVersion, RouterVersion]:
        """A new module version and a router over it, in one transaction: both or neither.

        In ``router.domains`` the new module's entry carries version None (it is allocated here).
        """
        module_files = self.blobs.put_folder(Path(module_folder))
        router_files = self.blobs.put_folder(Path(router_folder))
        with self.write() as tx:
            mv = tx.insert_module(module, module_files)
            members = tuple((n, mv.version if (v is None and n == module.name) else v) for n, v in router.domains)
            rv = tx.insert_router(replace(router, domains=members), router_files)
            return mv, rv

    def register_index(self, spec: IndexSpec, folder: str | Path) -> IndexRecord:
        files = self.blobs.put_folder(Path(folder))
        with self.write() as tx:
            return tx.insert_index(spec, files)

    # ---------------------------------------------------------------- lookups
    def module_version(self, ref: str | Ref) -> ModuleVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.kind == "router":
            raise UsageError(f"{ref} is a router reference, not a module")
        with self.read() as tx:
            return tx.module_version(ref.kind, ref.name, ref.version, ref.alias)

    def module_versions(self) -> list[ModuleVersion]:
        with self.read() as tx:
            return tx.module_versions()

    def router_version(self, ref: str | Ref = "router@production") -> RouterVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        if ref.kind != "router":
            raise UsageError(f"{ref} is a module reference, not a router")
        with self.read() as tx:
            return tx.router_version(ref.version, ref.alias)

    def router_versions(self) -> list[RouterVersion]:
        with self.read() as tx:
            return tx.router_versions()

    def resolve(self, ref: str | Ref) -> ModuleVersion | RouterVersion:
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        return self.router_version(ref) if ref.kind == "router" else self.module_version(ref)

    def index_records(self, name: str | None = None) -> list[IndexRecord]:
        with self.read() as tx:
            return tx.index_records(name)

    def backbones(self) -> list[Backbone]:
        with self.read() as tx:
            return tx.backbones()

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
