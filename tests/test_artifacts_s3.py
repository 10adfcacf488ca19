"""Artifacts in S3-compatible object storage, against a real S3 API server (moto's, in a subprocess).

Publish keeps its order (objects first, rows after), every row names the store holding its file,
verify and gc work on the bucket, and bad store URIs or a missing bucket are one line that changes
nothing.
"""

from __future__ import annotations

import time

import pytest
from registry_helpers import BACKBONE, artifact

from ddr.errors import UsageError
from ddr.registry import IntegrityError, Registry
from ddr.registry.errors import RegistryIOError
from ddr.registry.maintenance import gc, verify


def s3_registry(tmp_path, s3, db_url=None, prefix="team/reg"):
    bucket = s3.new_bucket()
    uri = f"s3://{bucket}/{prefix}"
    return Registry.init(tmp_path / "home", db_url, artifacts=uri), bucket, uri


def test_files_go_to_the_bucket_and_rows_say_so(tmp_path, s3, db_url):
    reg, bucket, uri = s3_registry(tmp_path, s3, db_url)
    v = reg.register_module("domain", "alpha", artifact(tmp_path / "a", b"weights-a"), {"p": 1}, BACKBONE)
    assert {f.store for f in v.files} == {uri}
    keys = s3.keys(bucket)
    assert sorted(f"team/reg/blobs/{f.sha256[:2]}/{f.sha256}" for f in v.files) == keys
    assert reg.blobs.all_blobs() == []  # nothing in the home's local store
    out = reg.export("domain/alpha@1", tmp_path / "out")
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "a" / "model.safetensors").read_bytes()
    assert verify(reg).ok and verify(reg).checked == 2
    # Another handle on the same database, told nothing, writes to the recorded store too.
    other = Registry(tmp_path / "home", db_url)
    assert other.blobs.uri == uri
    w = other.register_module("domain", "beta", artifact(tmp_path / "b", b"weights-b"), {"p": 1}, BACKBONE)
    assert {f.store for f in w.files} == {uri} and len(s3.keys(bucket)) == 3  # the same config.json is one object
    other.register_module("domain", "gamma", artifact(tmp_path / "c", b"weights-b"), {"p": 1}, BACKBONE)
    assert len(s3.keys(bucket)) == 3
    reg.close()
    other.close()


def test_local_rows_stay_readable_after_switching_to_s3(tmp_path, s3):
    home = tmp_path / "home"
    reg = Registry.init(home)
    local = reg.register_module("domain", "alpha", artifact(tmp_path / "a", b"local"), {"p": 1}, BACKBONE)
    assert {f.store for f in local.files} == {"local"}
    bucket = s3.new_bucket()
    reg = Registry.init(home, artifacts=f"s3://{bucket}")
    remote = reg.register_module("domain", "alpha", artifact(tmp_path / "b", b"remote"), {"p": 1}, BACKBONE)
    assert {f.store for f in remote.files} == {f"s3://{bucket}"}
    assert reg.module_version("domain/alpha@1").files[0].store == "local"
    report = verify(reg)
    assert report.ok and report.checked == 4
    assert (reg.export("domain/alpha@1", tmp_path / "o1") / "config.json").is_file()
    assert (reg.export("domain/alpha@2", tmp_path / "o2") / "config.json").is_file()


def test_verify_names_a_corrupted_or_missing_object(tmp_path, s3):
    reg, bucket, _ = s3_registry(tmp_path, s3)
    v = reg.register_module("domain", "alpha", artifact(tmp_path / "a", b"weights"), {"p": 1}, BACKBONE)
    weights = next(f for f in v.files if f.name == "model.safetensors")
    key = f"team/reg/blobs/{weights.sha256[:2]}/{weights.sha256}"
    s3.client().put_object(Bucket=bucket, Key=key, Body=b"tampered")
    report = verify(reg)
    assert len(report.problems) == 1 and "model.safetensors does not match its sha256" in report.problems[0]
    with pytest.raises(IntegrityError, match="does not match its sha256"):
        reg.export("domain/alpha@1", tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
    s3.client().delete_object(Bucket=bucket, Key=key)
    report = verify(reg)
    assert len(report.problems) == 1 and "missing from the artifact store" in report.problems[0]


def test_gc_removes_unreferenced_objects_and_unfinished_uploads(tmp_path, s3):
    reg, bucket, _ = s3_registry(tmp_path, s3)
    v = reg.register_module("domain", "alpha", artifact(tmp_path / "a", b"kept"), {"p": 1}, BACKBONE)
    client = s3.client()
    stray = "team/reg/blobs/ab/" + "ab" * 32
    client.put_object(Bucket=bucket, Key=stray, Body=b"orphan")
    client.put_object(Bucket=bucket, Key="elsewhere/not-ours", Body=b"x")  # outside the prefix: never touched
    upload = client.create_multipart_upload(Bucket=bucket, Key="team/reg/blobs/cd/" + "cd" * 32)["UploadId"]
    # A new object is kept: another process may be between its upload and its row. (moto reports every
    # multipart upload as initiated in 2010, so only objects can show this here.)
    assert not any(stray in r for r in gc(reg, dry_run=True, stale_after=3600))
    removed = gc(reg, dry_run=True, stale_after=-1)
    assert any(stray in r for r in removed) and any("unfinished upload" in r for r in removed) and len(removed) == 2
    assert stray in s3.keys(bucket)
    gc(reg, stale_after=-1)
    keys = s3.keys(bucket)
    assert stray not in keys and "elsewhere/not-ours" in keys
    assert all(f"blobs/{f.sha256[:2]}/{f.sha256}" in "\n".join(keys) for f in v.files)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert upload and verify(reg).ok


@pytest.mark.parametrize("uri, message", [
    ("ftp://bucket/x", "artifact store must be 'local' or s3://BUCKET[/PREFIX]"),
    ("s3://Bad_Bucket/x", "is not an S3 bucket name"),
    ("s3://bucket/../x", "the prefix may hold only"),
])
def test_bad_store_uri_is_one_line(tmp_path, uri, message):
    with pytest.raises(UsageError, match="^" + "artifact store") as err:
        Registry.init(tmp_path / "home", artifacts=uri)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "home").exists()


def test_missing_bucket_is_one_line_and_records_nothing(tmp_path, s3):
    with pytest.raises(RegistryIOError, match="bucket 'ddr-no-such-bucket' does not exist"):
        Registry.init(tmp_path / "home", artifacts="s3://ddr-no-such-bucket/x")
    assert not (tmp_path / "home" / "registry.db").exists()


def test_unreachable_store_fails_before_any_row(tmp_path, s3, monkeypatch):
    reg, _, _ = s3_registry(tmp_path, s3)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    reg2 = Registry(tmp_path / "home")
    t = time.monotonic()
    with pytest.raises(RegistryIOError, match="^artifact store s3://") as err:
        reg2.register_module("domain", "alpha", artifact(tmp_path / "a", b"w"), {"p": 1}, BACKBONE)
    assert "\n" not in str(err.value) and time.monotonic() - t < 120
    assert reg.module_versions() == []


def test_downgrade_below_0004_refuses_while_files_live_in_a_bucket(tmp_path, s3):
    from alembic import command

    from ddr.registry.db import alembic_config, current_revision

    reg, _, _ = s3_registry(tmp_path, s3)
    reg.register_module("domain", "alpha", artifact(tmp_path / "a", b"w"), {"p": 1}, BACKBONE)
    with pytest.raises(RuntimeError, match="live in object storage"), reg.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0003")
    assert current_revision(reg.engine) == "0004"
