"""Revision 0003 moves data paths, instruction and training config out of ``metrics`` into columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sqlalchemy import text

from ddr.registry import Registry
from ddr.registry.db import upgrade

ASSET = Path(__file__).resolve().parent / "assets" / "registry-0002.db"


def _upgraded(tmp_path) -> Registry:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ASSET, home / "registry.db")
    upgrade(Registry(home, check=False).engine)
    return Registry(home)


def test_facts_leave_metrics_for_columns(tmp_path):
    reg = _upgraded(tmp_path)
    old = reg.module_version("domain/old@1")
    assert old.metrics == {"heldout_ndcg@10": 0.5}
    assert old.data_paths == ("/data/beir/old",)
    assert old.instruction == "old questions"
    assert old.train_config == {"epochs": 10, "lr": 0.01, "prefix_length": 16, "heldout_source": "every 5th train query"}
    general = reg.module_version("general/general@1")
    assert general.metrics == {"heldout": {"a": 0.4}, "steps": 7}
    assert general.data_paths == ("/data/beir/a", "/data/beir/b")
    assert (general.instruction, general.train_config) == ("", {"epochs": 1})
    assert reg.router_version("router@production").domains == (("old", 1),)


def test_downgrade_puts_them_back(tmp_path):
    from alembic import command

    from ddr.registry.db import alembic_config, current_revision

    reg = _upgraded(tmp_path)
    with reg.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    assert current_revision(reg.engine) == "0002"
    with reg.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, metrics FROM module_version")).all())
    assert json.loads(rows[1]) == {
        "data": "/data/beir/old", "heldout_source": "every 5th train query", "instruction": "old questions", "heldout_ndcg@10": 0.5,
        "train": {"epochs": 10, "lr": 0.01, "prefix_length": 16},
    }
    assert json.loads(rows[2])["data"] == ["/data/beir/a", "/data/beir/b"]


def test_new_versions_write_the_columns(tmp_path):
    from ddr.registry import ModuleSpec

    reg = Registry.init(tmp_path / "fresh")
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x")
    backbone = {"name": "tiny", "weights_sha256": "ab" * 32, "num_layers": 2, "num_heads": 4, "head_dim": 8, "hidden_size": 32}
    spec = ModuleSpec("domain", "d", {}, backbone, metrics={"m": 1.0}, data_paths=("/x",), instruction="i", train_config={"lr": 1})
    mv = reg.register(spec, folder)
    assert (mv.metrics, mv.data_paths, mv.instruction, mv.train_config) == ({"m": 1.0}, ("/x",), "i", {"lr": 1})
    assert reg.module_version("domain/d@1") == mv
