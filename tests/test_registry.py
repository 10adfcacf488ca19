"""Registry model: versions, routers, aliases, rollback with audit, verify, gc, atomic publish."""

from __future__ import annotations

import pytest
from registry_helpers import BACKBONE, artifact
from sqlalchemy import text

from ddr.errors import UsageError
from ddr.registry import ConflictError, IntegrityError, NotFoundError, Registry, RouterSpec
from ddr.registry.aliases import history, rollback, set_alias
from ddr.registry.maintenance import gc, verify
from ddr.registry.tx import Tx


@pytest.fixture
def reg(tmp_path, db_url):
    r = Registry.init(tmp_path / "home", db_url)
    yield r
    r.close()


def add_domain(reg, tmp_path, name: str, payload: bytes, **kw):
    return reg.register_module("domain", name, artifact(tmp_path / f"a-{name}-{payload[:8].hex()}", payload), {"p": 1}, BACKBONE, **kw)


def test_versions_are_allocated_and_immutable(reg, tmp_path):
    v1 = add_domain(reg, tmp_path, "scifact", b"one", data_fingerprint="fp1", metrics={"ndcg@10": 0.7}, description="claims")
    v2 = add_domain(reg, tmp_path, "scifact", b"two", parent=1)
    assert (v1.version, v2.version) == (1, 2)
    assert v2.parent_version == 1 and v1.data_fingerprint == "fp1" and v1.metrics == {"ndcg@10": 0.7}
    assert reg.module_version("domain/scifact").version == 2  # latest
    got = reg.module_version("domain/scifact@1")
    assert got.files == v1.files and got.description == "claims"
    assert {f.name for f in got.files} == {"model.safetensors", "config.json"}
    # The database itself refuses a second row with the same version.
    with pytest.raises(Exception), reg.engine.begin() as conn:  # noqa: B017
        conn.execute(text("INSERT INTO module_version (module_id, version, backbone_id, config, data_fingerprint, metrics, created_at, created_by) SELECT module_id, version, backbone_id, config, data_fingerprint, metrics, created_at, created_by FROM module_version WHERE version = 1"))
    assert [m.version for m in reg.module_versions()] == [1, 2]


def test_unknown_refs(reg, tmp_path):
    with pytest.raises(NotFoundError, match="no domain module named 'x'"):
        reg.module_version("domain/x")
    add_domain(reg, tmp_path, "a", b"1")
    with pytest.raises(NotFoundError, match="domain/a@7 does not exist"):
        reg.module_version("domain/a@7")
    with pytest.raises(NotFoundError, match="alias 'prod' is not set"):
        reg.module_version("domain/a@prod")
    with pytest.raises(UsageError):
        reg.module_version("router@1")
    with pytest.raises(NotFoundError, match="router has no versions"):
        reg.router_version("router")


def test_router_records_exact_members(reg, tmp_path):
    reg.register_module("general", "general", artifact(tmp_path / "g", b"g"), {}, BACKBONE)
    add_domain(reg, tmp_path, "a", b"a1")
    add_domain(reg, tmp_path, "b", b"b1")
    add_domain(reg, tmp_path, "a", b"a2")
    r = reg.register_router(RouterSpec({"input": "tokens"}, BACKBONE, (("b", 1), ("a", 2)), general_version=1), artifact(tmp_path / "r", b"r"))
    assert r.version == 1 and r.domains == (("b", 1), ("a", 2)) and r.general_version == 1
    assert reg.router_version("router@1") == r
    with pytest.raises(NotFoundError):
        reg.register_router(RouterSpec({}, BACKBONE, (("a", 9),)), artifact(tmp_path / "r2", b"r2"))
    assert len(reg.router_versions()) == 1  # the failed registration left no row


def test_alias_moves_and_rollback_are_audited(reg, tmp_path):
    add_domain(reg, tmp_path, "a", b"a1")
    for i in range(3):
        reg.register_router(RouterSpec({}, BACKBONE, (("a", 1),)), artifact(tmp_path / f"r{i}", f"r{i}".encode()))
    assert set_alias(reg, "router@1", "production", "first") == (None, 1)
    assert set_alias(reg, "router@3", "production", "ship v3") == (1, 3)
    assert reg.router_version("router@production").version == 3
    assert rollback(reg, "router", reason="v3 regressed") == (3, 1)
    assert reg.router_version("router@production").version == 1
    assert rollback(reg, "router", to=2) == (1, 2)
    with pytest.raises(ConflictError, match="already points"):
        rollback(reg, "router", to=2)
    moves = [(e.action, e.from_version, e.to_version, e.reason) for e in history(reg, "router@production")]
    assert moves == [
        ("rollback", 1, 2, ""),
        ("rollback", 3, 1, "v3 regressed"),
        ("alias.set", 1, 3, "ship v3"),
        ("alias.set", None, 1, "first"),
    ]
    assert all(e.actor for e in history(reg))
    assert reg.router_version("router@2").aliases == ("production",)


def test_rollback_refuses_damaged_target(reg, tmp_path):
    add_domain(reg, tmp_path, "a", b"a1")
    r1 = reg.register_router(RouterSpec({}, BACKBONE, (("a", 1),)), artifact(tmp_path / "r1", b"r1"))
    reg.register_router(RouterSpec({}, BACKBONE, (("a", 1),)), artifact(tmp_path / "r2", b"r2"))
    set_alias(reg, "router@1", "production")
    set_alias(reg, "router@2", "production")
    blob = reg.blobs.path(next(f.sha256 for f in r1.files if f.name == "model.safetensors"))
    blob.write_bytes(b"tampered")
    audit_before = len(history(reg))
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        rollback(reg, "router")
    assert reg.router_version("router@production").version == 2
    assert len(history(reg)) == audit_before
    # A router is only as loadable as its domain modules.
    dom_blob = reg.blobs.path(reg.module_version("domain/a@1").files[0].sha256)
    dom_blob.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        set_alias(reg, "router@2", "staging")


def test_verify_and_gc(reg, tmp_path):
    v = add_domain(reg, tmp_path, "a", b"a1")
    assert verify(reg).ok and verify(reg).checked == 2
    stray_sha, _ = reg.blobs.put(artifact(tmp_path / "stray", b"stray") / "model.safetensors")
    assert gc(reg, dry_run=True, stale_after=0) == [str(reg.blobs.path(stray_sha).relative_to(reg.home))]
    assert gc(reg, stale_after=3600) == []  # too fresh: another writer may be about to commit it
    gc(reg, stale_after=0)
    assert not reg.blobs.path(stray_sha).exists()
    assert verify(reg).ok  # referenced blobs survived
    reg.blobs.path(v.files[0].sha256).write_bytes(b"x")
    report = verify(reg)
    assert not report.ok and "does not match" in report.problems[0]


def test_crash_between_file_write_and_commit_leaves_no_row(reg, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("simulated crash after the blobs were written")

    monkeypatch.setattr(Tx, "_add_files", boom)
    with pytest.raises(RuntimeError):
        add_domain(reg, tmp_path, "a", b"a1")
    monkeypatch.undo()
    with pytest.raises(NotFoundError):
        reg.module_version("domain/a")
    assert history(reg) == []
    assert verify(reg).ok
    assert len(gc(reg, stale_after=0)) == 2  # the orphaned blobs, and nothing else
    assert add_domain(reg, tmp_path, "a", b"a1").version == 1  # re-running succeeds


def test_export_verifies(reg, tmp_path):
    v = add_domain(reg, tmp_path, "a", b"payload")
    out = reg.export("domain/a@1", tmp_path / "out")
    assert (out / "model.safetensors").read_bytes() == b"payload"
    reg.blobs.path(v.files[1].sha256).write_bytes(b"bad")
    with pytest.raises(IntegrityError):
        reg.export("domain/a@1", tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_names_are_validated(reg, tmp_path):
    with pytest.raises(UsageError, match="invalid module name"):
        add_domain(reg, tmp_path, "../etc", b"1")
    with pytest.raises(UsageError, match="alias"):
        set_alias(reg, "router@1", "12")
