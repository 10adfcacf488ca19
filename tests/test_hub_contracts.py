"""Hub sync contracts that need no server: import weight of ``--help``, configs checked with the loader's
classes, the manifest format and replay sets checked as data."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest


# ---------------------------------------------------------------- contracts without a server
def test_help_imports_neither_torch_nor_huggingface_hub():
    code = (
        "import sys; from ddr.cli.app import main\n"
        "for cmd in (['push', '--help'], ['pull', '--help']):\n"
        "    try:\n        main(cmd)\n    except SystemExit:\n        pass\n"
        "print('torch' in sys.modules, 'huggingface_hub' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False).stdout
    assert out.strip().endswith("False False"), out


@pytest.mark.parametrize(
    "change",
    [{"type": "os.system"}, {"prefix_length": 5000}, {"prefix_length": "16"}, {"backbone": {"name": "x"}}, {"kind": "router"}],
    ids=["unknown-key", "too-long", "wrong-type", "bad-backbone", "bad-kind"],
)
def test_pull_checks_configs_with_the_loaders_own_classes(home_a, tmp_path, change):
    """hub/content.py validates a pulled config.json with ddr.modules.config's dataclasses (strict), not a copy."""
    from ddr.hub import ContentError
    from ddr.hub.content import check_version
    from ddr.hub.push import select
    from ddr.modules.config import PrefixConfig
    from ddr.modules.errors import ArtifactError
    from ddr.registry import Registry

    reg = Registry(home_a)
    try:
        v = next(v for v in select(reg, everything=True) if v.ref == "domain/scifact@1")
        folder = reg.export(v.ref, tmp_path / "v")
    finally:
        reg.close()
    check_version(v, folder)  # as pushed: accepted
    config = {**v.config, **change}
    with pytest.raises(ArtifactError) as loader:
        PrefixConfig.from_dict(config, strict=True)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ContentError) as pulled:
        check_version(dataclasses.replace(v, config=config), folder)
    assert str(loader.value) in str(pulled.value)


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
