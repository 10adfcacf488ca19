"""Pulls import only what loads; pushes publish nothing private unless asked; a pulled registry adds
domains with none of the earlier corpora on disk; refusals are one line and change nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from beirdata import make_domain
from hub_server import HubState, serve
from hubtools import REPO, cli, fresh_home, hub_env, manifest_of, ok, one_line_error, replace_files, snapshot
from safetensors.numpy import save

ACTOR = "alice@secret-host.example"
TRAIN = ["--prefix-length", "4", "--epochs", "1", "--batch-size", "8", "--force", "--quiet"]


def _config(state, ref_path: str) -> dict:
    return json.loads(state.files(REPO)[ref_path])


def _router_input_100(state):
    config = {**_config(state, "routers/v2/config.json"), "input_dim": 100}
    tensors = {"weight": np.zeros((2, 100), np.float32), "bias": np.zeros(2, np.float32), "center": np.zeros(100, np.float32)}
    replace_files(state, "router@2", {"model.safetensors": save(tensors)}, config)


def _nan_weights(state):
    config = _config(state, "modules/domain/scifact/v1/config.json")
    shape = (2, 4, config["prefix_length"], 8)
    tensors = {"keys": np.full(shape, np.nan, np.float32), "values": np.zeros(shape, np.float32), "gates": np.zeros((2, 4), np.float32)}
    replace_files(state, "domain/scifact@1", {"model.safetensors": save(tensors)})


def _prefix_length_8(state):
    config = {**_config(state, "modules/domain/nfcorpus/v1/config.json"), "prefix_length": 8}
    kv = np.zeros((2, 4, 8, 8), np.float32)
    replace_files(state, "domain/nfcorpus@1", {"model.safetensors": save({"keys": kv, "values": kv, "gates": np.zeros((2, 4), np.float32)})}, config)


WOULD_NOT_LOAD = {
    "router-input-width": (_router_input_100, ["router input_dim is 100", "have 32 dimensions", "it would not load"]),
    "nan-weights": (_nan_weights, ["holds NaN or Inf"]),
    "prefix-lengths-differ": (_prefix_length_8, ["router@2", "share one prefix length", "nfcorpus@1 P=8"]),
    "deep-manifest": (lambda s: s.commit_files(REPO, {"manifest.json": b"[" * 200_000 + b"]" * 200_000}), ["nested too deeply"]),
    "deep-metrics": (lambda s: _rewrite(s, lambda d: d["versions"][0].update(metrics=_nested(40))), ["nested more than 32 levels"]),
    "version-2**31": (lambda s: _rewrite(s, lambda d: d["versions"][-1].update(version=2**31)), ["at most 2147483647"]),
    "nul-in-description": (lambda s: _rewrite(s, lambda d: d["versions"][1].update(description="a\x00b")), ["without NUL"]),
}


def _nested(depth: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(depth):
        value = {"x": value}
    return value


def _rewrite(state, change):
    doc = manifest_of(state)
    change(doc)
    state.commit_files(REPO, {"manifest.json": json.dumps(doc).encode()})


@pytest.mark.parametrize("case", sorted(WOULD_NOT_LOAD))
def test_pull_refuses_what_would_not_load(case, pushed_hub, tmp_path):
    env, state = hub_env(pushed_hub.url, tmp_path), pushed_hub.state
    make, needles = WOULD_NOT_LOAD[case]
    make(state)
    home = fresh_home(tmp_path, "b")
    before = snapshot(home)
    one_line_error(cli(env, home, "pull", "--repo", REPO), *needles)
    assert snapshot(home) == before and not list((home / "blobs").rglob("*"))


@pytest.mark.parametrize("tag_commit", ["deep", "no-manifest"])
def test_push_against_a_broken_tag_is_one_line(tag_commit, pushed_hub, home_a, tmp_path):
    env, state = hub_env(pushed_hub.url, tmp_path), pushed_hub.state
    good = state.files(REPO)["manifest.json"]
    broken = b"[" * 200_000 + b"]" * 200_000 if tag_commit == "deep" else None
    state.repos[REPO].tags["router-v2"] = state.commit_files(REPO, {"manifest.json": broken})
    state.commit_files(REPO, {"manifest.json": good})
    needle = "nested too deeply" if tag_commit == "deep" else "tag router-v2 on acme/ddr-registry points at commit"
    one_line_error(cli(env, home_a, "push", "--repo", REPO), needle)


def _pushed_bytes(state: HubState) -> bytes:
    blobs = [b.data for repo in state.repos.values() for commit in repo.commits.values() for b in commit.values()]
    paths = [p.encode() for repo in state.repos.values() for commit in repo.commits.values() for p in commit]
    return b"\n".join(blobs + paths + [bytes(v) for v in getattr(state, "lfs_objects", {}).values()])


@pytest.fixture
def trained(tmp_path, tiny_path):
    """A registry that add-domain filled from a data folder, with a recognisable author."""
    data = tmp_path / "private-data"
    alpha = make_domain(data, "alpha", 0)
    server = serve(HubState(lfs_threshold=1))
    env = {**hub_env(server.url, tmp_path), "DDR_ACTOR": ACTOR}
    home = fresh_home(tmp_path, "a")
    ok(cli(env, home, "add-domain", "alpha", "--data", str(alpha), "--backbone", tiny_path, *TRAIN))
    yield server, env, home, data
    server.close()


def test_push_publishes_nothing_private_unless_asked(trained, tmp_path, tiny_path):
    server, env, home, data = trained
    out = ok(cli(env, home, "push", "--repo", REPO))
    assert out.startswith(f"created private repository {REPO}")
    assert server.state.repos[REPO].private
    pushed = _pushed_bytes(server.state)
    backbone_folder = str(Path(tiny_path).parent)  # a backbone loaded from a local folder is recorded by its name only
    for secret in (str(tmp_path), str(data), backbone_folder, "secret-host", "alphaq"):  # paths, user@host, training queries
        assert secret.encode() not in pushed, secret
    # With the flags, the same scan finds them: the scan can fail.
    ok(cli(env, home, "push", "--repo", "acme/other", "--with-gate-data", "--with-authors", "--public"))
    assert not server.state.repos["acme/other"].private
    other = b"\n".join(b.data for b in server.state.repos["acme/other"].commits[server.state.head("acme/other")].values())
    assert b"alphaq" in other and b"secret-host" in other and str(tmp_path).encode() not in other


def test_pulled_registry_adds_a_domain_without_the_earlier_corpus(trained, tmp_path, tiny_path):
    _, env, home, data = trained
    ok(cli(env, home, "push", "--repo", REPO))  # no gate data
    ok(cli(env, home, "push", "--repo", "acme/with-data", "--with-gate-data"))
    beta = make_domain(tmp_path / "elsewhere", "beta", 60)
    shutil.rmtree(data)  # the pulling machine has none of the earlier corpora
    without = fresh_home(tmp_path, "b")
    ok(cli(env, without, "pull", "--repo", REPO))
    one_line_error(cli(env, without, "add-domain", "beta", "--data", str(beta), "--backbone", tiny_path, *TRAIN),
                   "domain/alpha@1 has no replay set", "--with-gate-data")
    with_data = fresh_home(tmp_path, "c")
    ok(cli(env, with_data, "pull", "--repo", "acme/with-data"))
    out = ok(cli(env, with_data, "add-domain", "beta", "--data", str(beta), "--backbone", tiny_path, *TRAIN))
    assert "passages encoded: 20" in out and "\nalpha " in out and "activated" in out  # alpha scored from its gate data


def test_a_manifest_never_chooses_a_folder_to_read(pushed_hub, tmp_path, tiny_path):
    env, state = hub_env(pushed_hub.url, tmp_path), pushed_hub.state
    _rewrite(state, lambda d: [e["metrics"].update(data="/etc") for e in d["versions"] if e["kind"] == "domain"])
    home = fresh_home(tmp_path, "b")
    ok(cli(env, home, "pull", "--repo", REPO))
    from ddr.registry import Registry

    reg = Registry(home)
    try:
        assert all(mv.data_paths == () for mv in reg.module_versions())  # metrics are metrics, never a path to read
    finally:
        reg.close()
    beta = make_domain(tmp_path, "beta", 60)
    out = one_line_error(cli(env, home, "add-domain", "beta", "--data", str(beta), "--backbone", tiny_path, *TRAIN), "update-domain")
    assert "/etc" not in out
