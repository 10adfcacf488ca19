"""Bad registry contents through the real CLI (checks in ``badinput``: one line, home unchanged): a module
for another backbone's shape, non-finite or truncated weights, a damaged blob, a newer database schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from badinput import commands, fails_unchanged, invoke, snapshot
from beirdata import make_domain
from helpers import general
from tinybert import make_backbone

from ddr.modules import load_backbone
from ddr.registry import Registry
from ddr.registry.aliases import set_alias
from ddr.service.publish import publish_module


@pytest.fixture
def tiny(tiny_path):
    return load_backbone(tiny_path)


def publish_live_general(home: Path, module) -> Registry:
    reg = Registry(home)
    publish_module(reg, module)
    set_alias(reg, "general/general@1", "production")
    return reg


def register_folder(home: Path, folder: Path, module) -> None:
    """Register the folder's files as they are (its recorded sha256 then matches the bad bytes)."""
    reg = Registry(home)
    reg.register_module("general", "general", folder, module.config.to_dict(), module.config.backbone)
    set_alias(reg, "general/general@1", "production")
    reg.close()


def loading_commands(tiny: str, data: Path) -> list[list[str]]:
    c = commands(tiny, data)
    return [c["evaluate"], c["index-build"], c["add-domain"]]


@pytest.mark.parametrize("dimension, kwargs", [("num_layers", {"layers": 3}), ("head_dim", {"hidden": 48, "heads": 4})])
def test_module_for_other_backbone_shape(tmp_path, home, tiny_path, dimension, kwargs):
    other = make_backbone(tmp_path, **kwargs)
    publish_live_general(home, general(other)).close()
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "general/general@1", dimension)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_non_finite_weights(tmp_path, home, tiny, tiny_path, value):
    module = general(tiny)
    with torch.no_grad():
        module.values[1, 2, 0, 3] = value
    publish_live_general(home, module).close()  # saving does not check; loading must
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "model.safetensors", "'values' holds NaN or Inf")


def test_truncated_safetensors(tmp_path, home, tiny, tiny_path):
    module = general(tiny)
    folder = module.save(tmp_path / "g")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    register_folder(home, folder, module)
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in loading_commands(tiny_path, data):
        fails_unchanged(home, args, "model.safetensors: unreadable safetensors file")


def _blob(home: Path, name: str = "model.safetensors") -> Path:
    reg = Registry(home)
    f = next(f for f in reg.module_version("general/general@1").files if f.name == name)
    path = reg.blobs.path(f.sha256)
    reg.close()
    return path


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_damaged_artifact(tmp_path, home, tiny, tiny_path, damage):
    publish_live_general(home, general(tiny)).close()
    blob = _blob(home)
    if damage == "tampered":
        data = bytearray(blob.read_bytes())
        data[-5] ^= 0x01  # one flipped bit in a weight: still a loadable file, wrong bytes
        blob.write_bytes(bytes(data))
        expected = "file model.safetensors does not match its sha256"
    else:
        blob.unlink()
        expected = "file model.safetensors is missing from the artifact store"
    data_dir = make_domain(tmp_path / "data", "alpha", 0)
    for args in [*loading_commands(tiny_path, data_dir), ["alias", "set", "general/general@1", "staging"], ["rollback", "general", "--to", "1", "--alias", "staging"]]:
        fails_unchanged(home, args, "general/general@1", expected)
    before = snapshot(home)
    result = invoke(home, ["verify"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert f"FAIL module_version #1: {expected}" in result.output and "1 problems" in result.output
    assert snapshot(home) == before


def test_database_from_newer_schema(tmp_path, home, tiny_path):
    from sqlalchemy import text

    reg = Registry(home)
    with reg.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    reg.close()
    data = make_domain(tmp_path / "data", "alpha", 0)
    for args in [["list"], ["verify"], ["alias", "set", "router@1", "production"], *loading_commands(tiny_path, data)]:
        fails_unchanged(home, args, "database schema 9999 is newer than this ddr knows", "upgrade ddr")
