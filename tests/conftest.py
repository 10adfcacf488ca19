"""Shared fixtures (pytest finds them here; test modules never import fixtures).

Plain builders live in helper modules: tiny backbones in ``tinybert``, collections in ``beirdata``,
seeded modules in ``helpers``, registry artifacts in ``registry_helpers``, the Hub in ``hub_server``
and ``hubtools``, bad-input checks in ``badinput``, kill trials in ``crashtools``, the S3 server in ``s3tools``.

Two modules keep their own richer fixture under a shared name, which overrides the one here:
``test_registry.py`` (``reg`` on SQLite and PostgreSQL) and ``test_registry_cli.py`` (a ``home`` with versions).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hub_server import HubState, serve
from hubtools import REPO, cli, hub_env, ok
from registry_helpers import create_pg_database, drop_pg_database, pg_reason
from s3tools import S3Server, apply_env
from tinybert import make_backbone, sentence


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory):
    return make_backbone(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    """A tiny backbone saved as a folder, so the CLI can load it with --backbone PATH."""
    folder = tmp_path_factory.mktemp("tiny-backbone")
    bb = make_backbone(folder)
    bb.model.config._attn_implementation = "sdpa"
    bb.model.save_pretrained(folder / "model")
    bb.tokenizer.save_pretrained(folder / "model")
    return str(folder / "model")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Never touch the user's registry or Hub cache from a test."""
    monkeypatch.setenv("DDR_HOME", str(tmp_path / "ddr-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # Results must not depend on the machine's bf16 units: tests encode in float32 unless they say otherwise.
    monkeypatch.setenv("DDR_DTYPE", "float32")
    monkeypatch.delenv("DDR_DEVICE", raising=False)
    monkeypatch.delenv("DDR_ARTIFACTS", raising=False)


@pytest.fixture
def texts():
    """Different lengths on purpose: batching pads the short ones."""
    return [
        sentence(1, 2, 3),
        sentence(*range(10, 40)),
        sentence(7),
        sentence(50, 51, 52, 53, 54, 55, 56, 57),
        sentence(*range(60, 75)),
    ]


BEIR_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "beir"
BEIR_DIR = Path(os.environ.get("DDR_BEIR_DIR", BEIR_DIR)).resolve()


# ---------------------------------------------------------------- registries


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each registry test runs on SQLite (in the test's home) and on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield None  # the registry's default: <home>/registry.db
        return
    reason = pg_reason()
    if reason:
        pytest.skip(reason)
    url, name = create_pg_database()
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def reg(tmp_path):
    from ddr.registry import Registry

    return Registry.init(tmp_path / "home")


@pytest.fixture
def home(tmp_path):
    """An empty registry home (the bad-input tests compare it byte for byte before and after)."""
    from ddr.registry import Registry

    h = tmp_path / "home"
    Registry.init(h).close()
    return h


# ---------------------------------------------------------------- the Hub (tests/hub_server.py)


@pytest.fixture(scope="session")
def source_home(tmp_path_factory, tiny_backbone) -> Path:
    """general@1; scifact@1, @2 (parent 1); nfcorpus@1; router@1 (scifact@1), router@2 (scifact@2, nfcorpus@1) in production."""
    import helpers

    from ddr.registry import Registry
    from ddr.registry.aliases import set_alias
    from ddr.service.publish import publish_module, publish_router

    home = tmp_path_factory.mktemp("hub-source") / "home"
    reg = Registry.init(home)
    bb = tiny_backbone
    g = publish_module(reg, helpers.general(bb), metrics={"ndcg@10": 0.5})
    publish_module(reg, helpers.domain(bb, "scifact", 3), description="claims about science", metrics={"heldout_ndcg@10": 0.61})
    publish_module(reg, helpers.domain(bb, "scifact", 4), description="claims about science", parent=1)
    publish_module(reg, helpers.domain(bb, "nfcorpus", 5), description="nutrition questions")
    publish_router(reg, helpers.router(bb, ["scifact"]), [("scifact", 1)], g.version)
    publish_router(reg, helpers.router(bb, ["scifact", "nfcorpus"]), [("scifact", 2), ("nfcorpus", 1)], g.version, metrics={"heldout": {"scifact": 0.6}})
    set_alias(reg, "router@1", "production")
    set_alias(reg, "router@2", "production")
    reg.close()
    return home


@pytest.fixture
def home_a(source_home, tmp_path) -> Path:
    return Path(shutil.copytree(source_home, tmp_path / "a"))


@pytest.fixture
def lfs_hub():
    server = serve(HubState(lfs_threshold=1))  # every non-empty file goes through LFS
    yield server
    server.close()


@pytest.fixture(scope="session")
def pushed(source_home, tmp_path_factory) -> HubState:
    """One default push of the source registry (every file through LFS), cloned by ``pushed_hub``."""
    tmp = tmp_path_factory.mktemp("pushed")
    server = serve(HubState(lfs_threshold=1))
    try:
        ok(cli(hub_env(server.url, tmp), Path(shutil.copytree(source_home, tmp / "a")), "push", "--repo", REPO))
    finally:
        server.close()
    return server.state


@pytest.fixture
def pushed_hub(pushed):
    """A server already holding the pushed repository; each test gets its own copy to break."""
    server = serve(pushed.clone())
    yield server
    server.close()


# ---------------------------------------------------------------- object storage (tests/s3tools.py)


@pytest.fixture(scope="session")
def s3_server():
    """One real S3 API server (moto's standalone server) for the session; tests take their own bucket."""
    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The server, with its endpoint and credentials in this test's environment (subprocesses inherit them)."""
    apply_env(monkeypatch, s3_server)
    return s3_server
