"""A team's registry: PostgreSQL for rows, an S3 bucket for artifacts, homes on different paths.

One home registers a domain and is then deleted, corpus and all; a second home, told only the
database URL, lists, verifies, evaluates, builds an index, searches and adds a domain, reading every
artifact from the bucket (a real S3 API server) and writing its own there too.
"""

from __future__ import annotations

import shutil

import pytest
from beirdata import make_domain
from click.testing import CliRunner
from registry_helpers import create_pg_database, drop_pg_database, pg_reason

from ddr.cli.app import main


@pytest.fixture
def pg_url():
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    url, name = create_pg_database()
    yield url
    drop_pg_database(name)


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_two_homes_share_one_registry_through_postgres_and_s3(tmp_path, s3, pg_url, tiny_path, monkeypatch):
    bucket = s3.new_bucket()
    store = f"s3://{bucket}/team"
    monkeypatch.setenv("DDR_DB_URL", pg_url)
    train = ["--backbone", tiny_path, "--epochs", "2", "--prefix-length", "4", "--quiet", "--force"]

    # Machine A: registers alpha, then disappears with its home and its copy of the data.
    a_home, a_data = tmp_path / "machine-a" / "home", tmp_path / "machine-a" / "data"
    make_domain(a_data, "alpha", 0)
    assert f"artifacts: {store}" in run("--home", str(a_home), "--artifacts", store, "init")
    run("--home", str(a_home), "add-domain", "alpha", "--data", str(a_data / "alpha"), *train)
    shutil.rmtree(tmp_path / "machine-a")

    # Machine B: another path, told only DDR_DB_URL (the store was recorded at init).
    b_home, b_data = tmp_path / "machine-b" / "ddr", tmp_path / "machine-b" / "beir"
    make_domain(b_data, "alpha", 0)
    make_domain(b_data, "beta", 30)
    b = ["--home", str(b_home)]
    assert "domain/alpha" in run(*b, "list")
    assert "0 problems" in run(*b, "verify")
    table = run(*b, "evaluate", "--data", str(b_data), "--collection", "alpha", "--backbone", tiny_path, "--baselines", "plain", "--quiet")
    assert "alpha" in table and "DDR" in table
    assert "index alpha@1" in run(*b, "index", "build", "--data", str(b_data / "alpha"), "--backbone", tiny_path, "--quiet")
    hits = run(*b, "search", "some words", "--index", "alpha", "--backbone", tiny_path, "-k", "3")
    assert "alpha" in hits
    out = run(*b, "add-domain", "beta", "--data", str(b_data / "beta"), *train)
    assert "registered domain/beta@1 and router@2" in out

    from ddr.registry import Registry

    reg = Registry(b_home)
    assert reg.blobs.uri == store
    with reg.read() as tx:
        stores = {f.store for _, _, f in tx.all_files()}
    assert stores == {store}  # every module, router and index file of both machines is in the bucket
    assert reg.blobs.all_blobs() == []  # and nothing in B's local store
    assert {m.ref for m in reg.module_versions()} >= {"domain/alpha@1", "domain/beta@1"}
    reg.close()
