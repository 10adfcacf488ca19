"""Facts that are not metrics get columns of their own: a module version's data paths, instruction
and training config, and a backbone's local source folder.

Until 0002 add-domain and train-general kept them in the ``metrics`` JSON (keys ``data``,
``instruction``, ``train`` and ``heldout_source``); this revision adds the columns and moves those
keys out of ``metrics``, so ``metrics`` holds only metrics. The downgrade moves them back.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out here: migrations never import the application's current models.
module_version = sa.table(
    "module_version",
    sa.column("id", sa.Integer),
    sa.column("metrics", sa.Text),
    sa.column("data_paths", sa.Text),
    sa.column("instruction", sa.Text),
    sa.column("train_config", sa.Text),
)


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild, which foreign keys into module_version would refuse on SQLite).
    op.add_column("module_version", sa.Column("data_paths", sa.Text, nullable=False, server_default="[]"))
    op.add_column("module_version", sa.Column("instruction", sa.Text, nullable=False, server_default=""))
    op.add_column("module_version", sa.Column("train_config", sa.Text, nullable=False, server_default="{}"))
    op.add_column("backbone", sa.Column("source", sa.Text, nullable=False, server_default=""))
    conn = op.get_bind()
    for row_id, metrics in conn.execute(sa.select(module_version.c.id, module_version.c.metrics)).all():
        values = _split(metrics)
        if values is not None:
            conn.execute(module_version.update().where(module_version.c.id == row_id).values(**values))


def _split(metrics_json: str) -> dict | None:
    """The new column values for one row, or None when its metrics hold none of the moved keys."""
    try:
        metrics = json.loads(metrics_json or "{}")
    except ValueError:
        return None
    if not isinstance(metrics, dict) or not {"data", "instruction", "train", "heldout_source"} & set(metrics):
        return None
    data = metrics.pop("data", [])
    paths = [data] if isinstance(data, str) and data else [p for p in data if isinstance(p, str)] if isinstance(data, list) else []
    train = metrics.pop("train", {})
    train = dict(train) if isinstance(train, dict) else {}
    if "heldout_source" in metrics:
        train["heldout_source"] = metrics.pop("heldout_source")
    instruction = metrics.pop("instruction", "")
    return {
        "metrics": json.dumps(metrics, sort_keys=True),
        "data_paths": json.dumps(paths),
        "instruction": instruction if isinstance(instruction, str) else "",
        "train_config": json.dumps(train, sort_keys=True),
    }


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(module_version.c.id, module_version.c.metrics, module_version.c.data_paths, module_version.c.instruction, module_version.c.train_config)
    ).all()
    for row_id, metrics, paths, instruction, train in rows:
        merged = json.loads(metrics or "{}")
        paths, train = json.loads(paths or "[]"), json.loads(train or "{}")
        if paths:
            merged["data"] = paths[0] if len(paths) == 1 else paths
        if instruction:
            merged["instruction"] = instruction
        if "heldout_source" in train:
            merged["heldout_source"] = train.pop("heldout_source")
        if train:
            merged["train"] = train
        conn.execute(module_version.update().where(module_version.c.id == row_id).values(metrics=json.dumps(merged, sort_keys=True)))
    for column in ("train_config", "instruction", "data_paths"):  # ALTER TABLE DROP COLUMN: SQLite >= 3.35
        op.drop_column("module_version", column)
    op.drop_column("backbone", "source")
