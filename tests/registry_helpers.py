"""Registry test helpers: the real PostgreSQL server (the ``db_url`` fixture in conftest.py uses them), fake artifacts."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

PG_ADMIN_URL = os.environ.get("DDR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

BACKBONE = {
    "name": "tiny",
    "weights_sha256": "ab" * 32,
    "num_layers": 2,
    "num_heads": 4,
    "head_dim": 8,
    "hidden_size": 32,
}


def pg_reason() -> str | None:
    """None when PostgreSQL is reachable, else why the PostgreSQL variants are skipped."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'ddr[postgres]')"
    try:
        with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"


def create_pg_database() -> tuple[str, str]:
    """A fresh database on the local server; returns (url, name)."""
    import psycopg

    name = f"ddr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def artifact(folder: Path, payload: bytes, config: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(payload)
    (folder / "config.json").write_text(json.dumps(config or {"kind": "test"}))
    return folder
