"""Hub sync round trips: push and pull against an in-process Hub (tests/hub_server.py), on both upload paths.

The CLI runs in subprocesses: huggingface_hub reads HF_ENDPOINT and friends when it is imported, so
each call gets its own environment (and proves the installed entry point works end to end).
The fixtures (``source_home``, ``home_a``, ``lfs_hub``, ``pushed_hub``) are in conftest.py.
"""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from pathlib import Path

import helpers
import pytest
import torch
from hub_server import HubState, serve
from hubtools import PUSHED, REPO, cli, entry, fresh_home, hub_env, manifest_of, ok, one_line_error, registry_state


@pytest.fixture(params=["regular", "lfs"])
def hub(request):
    """Both upload paths: every file base64 in the commit, or safetensors through the LFS batch API."""
    state = HubState(lfs_patterns=("*.safetensors",) if request.param == "lfs" else ())
    server = serve(state)
    yield server
    server.close()


# ---------------------------------------------------------------- round trips
def test_push_then_pull_at_tag_branch_and_sha(hub, home_a, tmp_path, tiny_backbone):
    env = hub_env(hub.url, tmp_path)
    out = ok(cli(env, home_a, "push", "--repo", REPO))
    assert "pushed router@2, general/general@1, domain/nfcorpus@1, domain/scifact@1, domain/scifact@2" in out
    assert "tagged router-v2" in out
    state = hub.state
    files = state.files(REPO)
    assert {"manifest.json", "README.md", "routers/v2/model.safetensors", "routers/v2/config.json",
            "modules/domain/scifact/v1/model.safetensors", "modules/general/general/v1/config.json"} <= set(files)
    assert not any(p.startswith("routers/v1/") for p in files)  # router@1 is not referenced by production
    assert state.repos[REPO].tags["router-v2"] == state.head(REPO)
    assert bool(state.lfs_objects) == (hub.state.lfs_patterns != ())  # the upload path the parameter asked for
    assert state.repos[REPO].commits[state.head(REPO)]["routers/v2/model.safetensors"].lfs == bool(state.lfs_patterns)
    doc = manifest_of(state)
    router = entry(doc, "router@2")
    assert router["domains"] == [{"name": "scifact", "version": 2}, {"name": "nfcorpus", "version": 1}] and router["general_version"] == 1
    assert router["aliases"] == ["production"] and entry(doc, "domain/scifact@1")["description"] == "claims about science"
    card = files["README.md"].decode()
    assert "claims about science" in card and f"ddr-registry pull --repo {REPO}" in card and "router@2" in card

    expected = registry_state(home_a, PUSHED, as_pushed=True)
    for i, rev in enumerate(["router-v2", "main", state.head(REPO)]):
        home = fresh_home(tmp_path, f"b{i}")
        out = ok(cli(env, home, "pull", "--repo", REPO, "--revision", rev))
        assert "imported 5 version(s)" in out and "alias router@production -> 2" in out
        assert registry_state(home) == expected
        assert "0 problems" in ok(cli(env, home, "verify"))
    _assert_modules_load(home_a, tmp_path / "b0", tiny_backbone)


def _assert_modules_load(home_a: Path, home_b: Path, backbone) -> None:
    from ddr.modules import PrefixModule, Router
    from ddr.registry import Registry

    regs = [Registry(home_a), Registry(home_b)]
    try:
        for ref in ["domain/scifact@2", "general/general@1", "router@production"]:
            loaded = []
            for reg in regs:
                folder = reg.export(ref, Path(tempfile.mkdtemp(dir=home_b.parent)) / "x")
                cls = Router if ref.startswith("router") else PrefixModule
                loaded.append(cls.load(folder, backbone.spec).state_dict())
            assert loaded[0].keys() == loaded[1].keys()
            assert all(torch.equal(loaded[0][k], loaded[1][k]) for k in loaded[0])
    finally:
        for reg in regs:
            reg.close()


def test_push_all_merges_tags_and_repush_is_a_no_op(lfs_hub, home_a, tmp_path):
    env, state = hub_env(lfs_hub.url, tmp_path), lfs_hub.state
    ok(cli(env, home_a, "push", "--repo", REPO, "--router", "router@1"))
    ok(cli(env, home_a, "push", "--repo", REPO))  # merges: router@1 stays in the manifest
    doc = manifest_of(state)
    assert {"router@1", "router@2"} <= {f"router@{e['version']}" for e in doc["versions"] if e["kind"] == "router"}
    out = ok(cli(env, home_a, "push", "--repo", REPO, "--all"))
    assert "nothing to push" in out, out  # --all is exactly what the two pushes left there
    commits = state.commits_made(REPO)
    out = ok(cli(env, home_a, "push", "--repo", REPO))
    assert "nothing to push" in out and state.commits_made(REPO) == commits
    assert {"router-v1", "router-v2"} <= set(state.repos[REPO].tags)

    home = fresh_home(tmp_path, "b")
    ok(cli(env, home, "pull", "--repo", REPO))
    assert registry_state(home) == registry_state(home_a, as_pushed=True)  # everything, aliases included
    assert "6 already here" in ok(cli(env, home, "pull", "--repo", REPO, "--revision", "router-v2"))


def test_push_refuses_other_content_under_the_same_version(pushed_hub, tmp_path, tiny_backbone):
    from ddr.registry import Registry
    from ddr.registry.aliases import set_alias
    from ddr.service.publish import publish_module, publish_router

    env = hub_env(pushed_hub.url, tmp_path)
    other = tmp_path / "other"
    reg = Registry.init(other)
    g = publish_module(reg, helpers.general(tiny_backbone, seed=9))
    publish_module(reg, helpers.domain(tiny_backbone, "scifact", 99))
    publish_router(reg, helpers.router(tiny_backbone, ["scifact"], seed=9), [("scifact", 1)], g.version)
    set_alias(reg, "router@1", "production")
    reg.close()
    head = pushed_hub.state.head(REPO)
    one_line_error(cli(env, other, "push", "--repo", REPO), "different content", "refusing to push")
    assert pushed_hub.state.head(REPO) == head


def test_concurrent_push_is_refused_then_retry_works(hub, home_a, tmp_path):
    env, state = hub_env(hub.url, tmp_path), hub.state
    ok(cli(env, home_a, "push", "--repo", REPO, "--router", "router@1"))
    state.before_commit = lambda repo, branch: state.commit_files(repo, {"NOTES.md": b"someone else\n"}, branch)
    one_line_error(cli(env, home_a, "push", "--repo", REPO), "pushed to acme/ddr-registry@main in between", "pull")
    assert "routers/v2/config.json" not in state.files(REPO) and "NOTES.md" in state.files(REPO)
    ok(cli(env, home_a, "push", "--repo", REPO))
    assert "routers/v2/config.json" in state.files(REPO) and "NOTES.md" in state.files(REPO)


# ---------------------------------------------------------------- the real Hub, on request
def _real_hub_reachable() -> bool:
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(
    not (os.environ.get("HF_TOKEN") and os.environ.get("DDR_LIVE_HUB_REPO")),
    reason="live Hub round trip: set HF_TOKEN and DDR_LIVE_HUB_REPO=ORG/NAME (a repo this token may write)",
)
def test_live_hub_round_trip(home_a, tmp_path):
    if not _real_hub_reachable():
        pytest.skip("huggingface.co is not reachable from here")
    repo = os.environ["DDR_LIVE_HUB_REPO"]
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "DDR_HOME")}
    env.update(HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf-home"), HF_HUB_DISABLE_PROGRESS_BARS="1")
    branch = f"ddr-test-{uuid.uuid4().hex[:8]}"
    ok(cli(env, home_a, "push", "--repo", repo, "--private", "--revision", branch))
    assert "nothing to push" in ok(cli(env, home_a, "push", "--repo", repo, "--revision", branch))
    home = fresh_home(tmp_path, "b")
    ok(cli(env, home, "pull", "--repo", repo, "--revision", branch))

    def essentials(state):
        return {r: (v["files"], v.get("domains"), v["aliases"]) for r, v in state["versions"].items()}

    assert essentials(registry_state(home)) == essentials(registry_state(home_a, PUSHED))
    assert "0 problems" in ok(cli(env, home, "verify"))
