"""Engines, transactions and the schema gate.

SQLite (the default) runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so two writers can never both read "max version = 3" and insert 4. PostgreSQL
takes a transaction-scoped advisory lock per allocation scope for the same effect.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session

from .errors import SchemaError

BUSY_TIMEOUT_MS = 60_000
# The newest migration. Kept as a constant so the schema gate on every command needs no alembic
# import (``list`` must stay fast); tests/test_migrations.py asserts it equals the scripts' head.
HEAD_REVISION = "0004"


def _migrations_dir() -> Path:
    import ddr.migrations

    return Path(ddr.migrations.__file__).resolve().parent


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:  # sqlite3's connection, the pool's record
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = "IMMEDIATE" if conn.get_execution_options().get("ddr_write") else "DEFERRED"
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextlib.contextmanager
def transaction(engine: Engine, write: bool = False) -> Iterator[Session]:
    """A session in one transaction; committed on success, rolled back on any error."""
    bind = engine.execution_options(ddr_write=True) if write else engine
    with Session(bind=bind, expire_on_commit=False) as session, session.begin():
        yield session


def lock_scope(session: Session, scope: str) -> None:
    """Serialise allocations in ``scope`` (PostgreSQL advisory lock; SQLite's BEGIN IMMEDIATE already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(scope.encode())})


def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_migrations_dir()))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The head according to the migration scripts (imports alembic)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision, read directly (None: no ddr schema)."""
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision``; returns (before, after)."""
    from alembic import command

    before = current_revision(engine)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    return before, current_revision(engine)


def check_schema(engine: Engine, upgrade_hint: str) -> None:
    """Refuse a database whose schema is not exactly the code's head, saying what to run."""
    current = current_revision(engine)
    if current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory

    head = head_revision()
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is None:
        tables = set(inspect(engine).get_table_names())
        if tables:
            raise SchemaError(f"database has tables but no ddr schema version; it is not a ddr registry ({sorted(tables)[:3]}...)")
        raise SchemaError(f"registry is not initialised; run: {upgrade_hint.replace('db upgrade', 'init')}")
    if current not in known:
        raise SchemaError(
            f"database schema {current} is newer than this ddr knows (head {head}); upgrade ddr instead of the database"
        )
    raise SchemaError(f"database schema {current} is older than this ddr's {head}; run: {upgrade_hint}")
