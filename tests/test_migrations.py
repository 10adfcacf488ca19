"""Schema gate and migrations: old databases fail fast with the command; upgrades keep the data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from ddr.cli.app import main
from ddr.registry import Registry, SchemaError
from ddr.registry.aliases import history
from ddr.registry.db import HEAD_REVISION, head_revision, upgrade
from ddr.registry.schema import Base

ASSETS = Path(__file__).resolve().parent / "assets"
EARLIER_SCHEMAS = sorted(ASSETS.glob("registry-*.db"))


def test_head_constant_matches_scripts():
    assert HEAD_REVISION == head_revision()


def test_models_match_migrations(tmp_path, db_url):
    """Migrations and models describe the same schema (no diff for autogenerate to find)."""
    reg = Registry.init(tmp_path / "home", db_url)
    with reg.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    reg.close()


@pytest.mark.parametrize("asset", EARLIER_SCHEMAS, ids=lambda p: p.stem)
def test_upgrade_committed_old_database(tmp_path, asset):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(asset, home / "registry.db")
    with pytest.raises(SchemaError) as err:
        Registry(home)
    assert f"run: ddr-registry db upgrade --home {home}" in str(err.value)

    result = CliRunner().invoke(main, ["--home", str(home), "list"])
    assert result.exit_code == 1 and "db upgrade" in result.output

    result = CliRunner().invoke(main, ["--home", str(home), "db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"-> {head_revision()}" in result.output

    reg = Registry(home)
    assert reg.module_version("domain/old@1").description == f"from schema {asset.stem.split('-')[1]}"
    assert reg.router_version("router@production").domains == (("old", 1),)
    assert [e.reason for e in history(reg, "router@production")] == ["first"]
    with reg.read() as tx:
        assert {f.store for _, _, f in tx.all_files()} <= {"local"} and tx.setting("artifacts") is None  # 0004: files were local
    assert reg.blobs.uri == "local"
    reg.close()


def test_database_from_newer_code_refused(tmp_path):
    reg = Registry.init(tmp_path / "home")
    with reg.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="newer than this ddr"):
        Registry(tmp_path / "home")


def test_foreign_database_refused(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    engine = create_engine(f"sqlite:///{home / 'registry.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (id INTEGER)"))
    with pytest.raises(SchemaError, match="not a ddr registry"):
        Registry(home)


def test_init_is_idempotent_and_upgrades(tmp_path):
    home = tmp_path / "home"
    reg = Registry.init(home)
    upgrade(reg.engine)  # already at head: a no-op
    assert Registry.init(home).engine.url == reg.engine.url
    result = CliRunner().invoke(main, ["--home", str(home), "db", "current"])
    assert result.exit_code == 0 and f"database: {head_revision()}" in result.output
