"""Hub sync refusals: a hostile or broken repository, a conflicting local registry, an unreachable Hub,
and the token that must never leak. A refused pull changes nothing (see ``hubtools.snapshot``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
from pathlib import Path

import helpers
import pytest
from hubtools import REPO, TOKEN, cli, entry, fresh_home, hub_env, manifest_of, ok, one_line_error, registry_state, rewrite, snapshot


# ---------------------------------------------------------------- refusals on pull
def _tamper_same_size(state):
    path = "modules/domain/scifact/v1/model.safetensors"
    data = bytearray(state.files(REPO)[path])
    data[-1] ^= 0xFF
    state.tamper(REPO, path, bytes(data))


def _config_with_type_key(state):
    path = "modules/domain/scifact/v1/config.json"
    config = json.loads(state.files(REPO)[path])
    config["type"] = "os.system"
    data = json.dumps(config).encode()
    doc = manifest_of(state)
    e = entry(doc, "domain/scifact@1")
    e["config"] = config
    e["files"] = [f if f["path"] != path else {**f, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for f in e["files"]]
    state.commit_files(REPO, {path: data, "manifest.json": json.dumps(doc).encode()})


def _path(value):
    def change(doc):
        entry(doc, "domain/scifact@1")["files"][0]["path"] = value
    return lambda state: rewrite(state, change)


HOSTILE = {
    "tampered": (_tamper_same_size, ["does not match the sha256"]),
    "truncated": (lambda s: s.tamper(REPO, "routers/v2/model.safetensors", s.files(REPO)["routers/v2/model.safetensors"][:-7]), ["bytes, expected"]),
    "missing": (lambda s: s.tamper(REPO, "modules/general/general/v1/config.json", None), ["missing from"]),
    "dotdot": (_path("modules/domain/scifact/v1/../../../../etc/passwd"), ["escapes"]),
    "absolute": (_path("/etc/passwd"), ["is absolute"]),
    "backslash": (_path("modules\\domain\\scifact\\v1\\config.json"), ["backslash"]),
    "outside-prefix": (_path("modules/domain/nfcorpus/v1/config.json"), ["outside modules/domain/scifact/v1/"]),
    "unknown-config-type": (_config_with_type_key, ["keys no ddr config type has", "'type'"]),
    "unknown-kind": (lambda s: rewrite(s, lambda d: entry(d, "router@2").update(kind="plugin")), ["kind must be one of"]),
    "oversized": (lambda s: rewrite(s, lambda d: entry(d, "router@2")["files"][0].update(size=3 << 30)), ["more than the"]),
    "bad-sha": (lambda s: rewrite(s, lambda d: entry(d, "router@2")["files"][0].update(sha256="../" * 21 + "x")), ["64 lowercase hex"]),
    "bad-name": (lambda s: rewrite(s, lambda d: entry(d, "domain/scifact@1").update(name="../x")), ["invalid"]),
    "no-manifest": (lambda s: s.commit_files(REPO, {"manifest.json": None}), ["no manifest.json"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_repository_is_refused_and_nothing_imported(case, pushed_hub, tmp_path):
    env, state = hub_env(pushed_hub.url, tmp_path), pushed_hub.state
    hostile, needles = HOSTILE[case]
    hostile(state)
    home = fresh_home(tmp_path, "b")
    before = snapshot(home)
    one_line_error(cli(env, home, "pull", "--repo", REPO), *needles)
    assert snapshot(home) == before
    assert not list((home / "blobs").rglob("*"))  # not even orphan blobs: every check runs before the first put


def test_max_file_size_option(pushed_hub, tmp_path):
    env = hub_env(pushed_hub.url, tmp_path)
    home = fresh_home(tmp_path, "b")
    before = snapshot(home)
    one_line_error(cli(env, home, "pull", "--repo", REPO, "--max-file-size", "100"), "more than the 100 allowed")
    assert snapshot(home) == before


def test_pull_refuses_a_local_version_with_other_content(pushed_hub, tmp_path, tiny_backbone):
    from ddr.registry import Registry
    from ddr.service.publish import publish_module

    env = hub_env(pushed_hub.url, tmp_path)
    home = fresh_home(tmp_path, "b")
    reg = Registry(home)
    publish_module(reg, helpers.general(tiny_backbone, seed=42))
    reg.close()
    before = snapshot(home)
    one_line_error(cli(env, home, "pull", "--repo", REPO), "general/general@1 exists here with different content")
    assert snapshot(home) == before


def test_pull_keeps_a_different_local_production(pushed_hub, home_a, tmp_path):
    env = hub_env(pushed_hub.url, tmp_path)
    home = Path(shutil.copytree(home_a, tmp_path / "b"))
    ok(cli(env, home, "rollback", "router", "--to", "1"))
    out = ok(cli(env, home, "pull", "--repo", REPO))
    assert "router@production: kept 1" in out and "0 version(s)" in out
    assert ("router", "production", 1) in registry_state(home)["aliases"]


def test_token_never_leaks(lfs_hub, home_a, tmp_path):
    env, state = hub_env(lfs_hub.url, tmp_path), lfs_hub.state
    outputs = [cli(env, home_a, "push", "--repo", REPO)]
    home = fresh_home(tmp_path, "b")
    outputs.append(cli(env, home, "pull", "--repo", REPO))
    state.before_commit = lambda repo, branch: state.commit_files(repo, {"x": b"y"}, branch)
    outputs.append(cli(env, home_a, "push", "--repo", REPO, "--all"))  # refused: concurrent push
    _tamper_same_size(state)
    outputs.append(cli(env, fresh_home(tmp_path, "c"), "pull", "--repo", REPO))  # refused: sha256
    outputs.append(cli(env, home, "pull", "--repo", "acme/does-not-exist"))  # refused: 404
    assert [r.returncode for r in outputs] == [0, 0, 1, 1, 1]
    assert f"Bearer {TOKEN}" in state.authorizations  # the token was really in use
    for r in outputs:
        assert TOKEN not in r.stdout + r.stderr
    for h in (home_a, home, tmp_path / "c"):
        for p in h.rglob("*"):
            assert not p.is_file() or TOKEN.encode() not in p.read_bytes(), p
    for repo in state.repos.values():
        for files in repo.commits.values():
            assert all(TOKEN.encode() not in b.data for b in files.values())


def test_unreachable_hub_is_one_line(home_a, tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    env = hub_env(f"http://127.0.0.1:{port}", tmp_path)
    one_line_error(cli(env, home_a, "push", "--repo", REPO), "cannot reach the Hub")
    one_line_error(cli(env, home_a, "pull", "--repo", "not a repo"), "ORG/NAME")
