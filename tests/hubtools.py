"""Hub test helpers: the repository and token the tests use, the CLI in a subprocess pointed at a test
server, and readers for what a registry or a repository holds."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from hub_server import HubState

TOKEN = "hf_ddrTestSecret_4f1e9c7a0b"  # distinctive: it must never show up anywhere but the Authorization header
REPO = "acme/ddr-registry"
PUSHED = ["domain/nfcorpus@1", "domain/scifact@1", "domain/scifact@2", "general/general@1", "router@2"]


def hub_env(url: str, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "DDR_"))}
    env.update(
        HF_ENDPOINT=url, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN=token, HF_HUB_DISABLE_PROGRESS_BARS="1",
    )
    return env


def cli(env: dict[str, str], home: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", "from ddr.cli.app import main; main()", "--home", str(home), *args]
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


def registry_state(home: Path, refs: list[str] | None = None, *, as_pushed: bool = False) -> dict:
    """Everything that must survive a round trip: versions (files, config, lineage, metrics) and aliases.

    ``as_pushed``: as a default push publishes them, without who made them (``--with-authors`` is off).
    """
    from ddr.registry import Registry
    from ddr.registry.aliases import aliases

    reg = Registry(home)
    try:
        versions = {e.ref: e.to_dict() for e in [*reg.module_versions(), *reg.router_versions()]}
        if as_pushed:
            versions = {r: {**v, "created_by": ""} for r, v in versions.items()}
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


def replace_files(state: HubState, ref: str, files: dict[str, bytes], config: dict | None = None) -> None:
    """Another client commits new bytes for some of a version's files (manifest sha256/size and config kept consistent)."""
    import hashlib

    doc = manifest_of(state)
    e = entry(doc, ref)
    base = e["files"][0]["path"].rsplit("/", 1)[0]
    if config is not None:
        e["config"] = config
        files = {**files, "config.json": json.dumps(config).encode()}
    e["files"] = [
        {**f, "sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])} if (name := f["path"].rsplit("/", 1)[1]) in files else f
        for f in e["files"]
    ]
    state.commit_files(REPO, {**{f"{base}/{n}": b for n, b in files.items()}, "manifest.json": json.dumps(doc).encode()})
