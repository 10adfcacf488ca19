"""Hub sync: push and pull round trips against an in-process Hub (tests/hub_server.py), and every refusal.

The CLI runs in subprocesses: huggingface_hub reads HF_ENDPOINT and friends when it is imported, so
each call gets its own environment (and proves the installed entry point works end to end).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import helpers
import pytest
import torch
from hub_server import HubState, serve

TOKEN = "hf_ddrTestSecret_4f1e9c7a0b"  # distinctive: it must never show up anywhere but the Authorization header
REPO = "acme/ddr-registry"
PUSHED = ["domain/nfcorpus@1", "domain/scifact@1", "domain/scifact@2", "general/general@1", "router@2"]


# ---------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="session")
def source_home(tmp_path_factory, tiny_backbone) -> Path:
    """general@1; scifact@1, @2 (parent 1); nfcorpus@1; router@1 (scifact@1), router@2 (scifact@2, nfcorpus@1) in production."""
    from ddr.publish import publish_module, publish_router
    from ddr.registry import Registry
    from ddr.registry.aliases import set_alias

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


@pytest.fixture(params=["regular", "lfs"])
def hub(request):
    """Both upload paths: every file base64 in the commit, or safetensors through the LFS batch API."""
    state = HubState(lfs_patterns=("*.safetensors",) if request.param == "lfs" else ())
    server = serve(state)
    yield server
    server.close()


@pytest.fixture
def lfs_hub():
    server = serve(HubState(lfs_threshold=1))  # every non-empty file goes through LFS
    yield server
    server.close()


@pytest.fixture(scope="module")
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


def hub_env(url: str, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "DDR_"))}
    env.update(
        HF_ENDPOINT=url, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN=token, HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    return env


def cli(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from ddr.cli import main; main()", "--home", str(home), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    out = (result.stdout + result.stderr).strip()
    assert result.returncode == 1, out
    assert out.startswith("Error: ") and "\n" not in out, out
    assert "Traceback" not in out
    for needle in needles:
        assert needle in out, out
    return out


def fresh_home(tmp_path: Path, name: str) -> Path:
    from ddr.registry import Registry

    home = tmp_path / name
    Registry.init(home).close()
    return home


def registry_state(home: Path, refs: list[str] | None = None) -> dict:
    """Everything that must survive a round trip: versions (files, config, lineage, metrics) and aliases."""
    from ddr.registry import Registry
    from ddr.registry.aliases import aliases

    reg = Registry(home)
    try:
        versions = {e.ref: e.to_dict() for e in [*reg.module_versions(), *reg.router_versions()]}
        al = sorted((a["scope"], a["alias"], a["version"]) for a in aliases(reg))
    finally:
        reg.close()
    if refs is not None:
        versions = {r: v for r, v in versions.items() if r in refs}
        al = [a for a in al if f"{a[0]}@{a[2]}" in refs]
    return {"versions": versions, "aliases": al}


def snapshot(home: Path) -> tuple[list[str], list[str]]:
    """The full database dump and the blob listing: a refused pull must leave both unchanged."""
    conn = sqlite3.connect(home / "registry.db")
    try:
        dump = list(conn.iterdump())
    finally:
        conn.close()
    blobs = sorted(p.relative_to(home).as_posix() for p in (home / "blobs").rglob("*"))
    return dump, blobs


def manifest_of(state: HubState, rev: str = "main") -> dict:
    return json.loads(state.files(REPO, rev)["manifest.json"])


def rewrite(state: HubState, change) -> None:
    """Another client commits a changed manifest (``change`` edits the parsed document in place)."""
    doc = manifest_of(state)
    change(doc)
    state.commit_files(REPO, {"manifest.json": json.dumps(doc).encode()})


def entry(doc: dict, ref: str) -> dict:
    for e in doc["versions"]:
        name = "router" if e["kind"] == "router" else f"{e['kind']}/{e['name']}"
        if f"{name}@{e['version']}" == ref:
            return e
    raise KeyError(ref)


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

    expected = registry_state(home_a, PUSHED)
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
    assert registry_state(home) == registry_state(home_a)  # everything, aliases included
    assert "6 already here" in ok(cli(env, home, "pull", "--repo", REPO, "--revision", "router-v2"))


def test_push_refuses_other_content_under_the_same_version(pushed_hub, tmp_path, tiny_backbone):
    from ddr.publish import publish_module, publish_router
    from ddr.registry import Registry
    from ddr.registry.aliases import set_alias

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
    from ddr.publish import publish_module
    from ddr.registry import Registry

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


# ---------------------------------------------------------------- contracts without a server
def test_help_imports_neither_torch_nor_huggingface_hub():
    code = (
        "import sys; from ddr.cli import main\n"
        "for cmd in (['push', '--help'], ['pull', '--help']):\n"
        "    try:\n        main(cmd)\n    except SystemExit:\n        pass\n"
        "print('torch' in sys.modules, 'huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False).stdout
    assert out.strip().endswith("False False"), out


def test_config_mirror_matches_the_dataclasses():
    """hub/content.py restates ddr.modules.config's keys so push/pull never import torch; keep them equal."""
    from ddr.hub import content
    from ddr.modules.config import BackboneSpec, PrefixConfig, RouterConfig

    types = {"str": str, "int": int, "float": float, "list[str]": list, "dict[str, Any]": dict}
    for cls, mirror in ((BackboneSpec, content.BACKBONE_SPEC), (PrefixConfig, content.PREFIX_CONFIG), (RouterConfig, content.ROUTER_CONFIG)):
        assert {f.name: types[f.type] for f in dataclasses.fields(cls)} == mirror, cls.__name__


def test_manifest_round_trips_and_rejects_junk(home_a):
    from ddr.hub import ManifestError, manifest
    from ddr.hub.push import select
    from ddr.registry import Registry

    reg = Registry(home_a)
    try:
        versions = select(reg, everything=True)
    finally:
        reg.close()
    data = manifest.to_json(versions)
    assert sorted(manifest.parse(data), key=lambda v: v.ref) == sorted(versions, key=lambda v: v.ref)
    doc = json.loads(data)
    for junk in (b"\xff", b"[]", b'{"format": "other"}', json.dumps({**doc, "format_version": 99}).encode(),
                 json.dumps({**doc, "extra": 1}).encode(), json.dumps({**doc, "versions": doc["versions"] * 2}).encode()):
        with pytest.raises(ManifestError):
            manifest.parse(junk)


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



def test_replay_sets_are_checked_as_data(home_a, tmp_path):
    from ddr.hub import ContentError
    from ddr.hub.content import check_version
    from ddr.hub.push import select
    from ddr.registry import Registry
    from ddr.registry.blobs import StoredFile

    reg = Registry(home_a)
    try:
        v = next(v for v in select(reg, everything=True) if v.ref == "domain/scifact@1")
        folder = reg.export(v.ref, tmp_path / "v")
    finally:
        reg.close()
    v = dataclasses.replace(v, files=(*v.files, StoredFile("replay.json", "0" * 64, 0)))
    qs = {"ids": ["q1"], "texts": ["w1 w2"], "qrels": {"q1": {"d1": 1}}}
    (folder / "replay.json").write_text(json.dumps({"train": qs, "heldout": qs, "heldout_source": "dev"}))
    check_version(v, folder)
    (folder / "replay.json").write_text(json.dumps({"train": qs, "heldout": {**qs, "qrels": {"q1": {"d1": "__import__('os')"}}}, "heldout_source": "dev"}))
    with pytest.raises(ContentError, match="not a query set"):
        check_version(v, folder)
