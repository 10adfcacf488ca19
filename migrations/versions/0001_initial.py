"""Initial registry schema: backbones, modules, versions, routers, indexes, artifacts, aliases, audit.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "backbone",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("weights_sha256", sa.String(64), nullable=False),
        sa.Column("num_layers", sa.Integer, nullable=False),
        sa.Column("num_heads", sa.Integer, nullable=False),
        sa.Column("head_dim", sa.Integer, nullable=False),
        sa.Column("hidden_size", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_backbone"),
        sa.UniqueConstraint("weights_sha256", name="uq_backbone_weights_sha256"),
    )
    op.create_table(
        "module",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_module"),
        sa.UniqueConstraint("kind", "name", name="uq_module_kind_name"),
        sa.CheckConstraint("kind IN ('general', 'domain')", name="ck_module_kind"),
    )
    op.create_table(
        "module_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("module_id", sa.Integer, sa.ForeignKey("module.id", name="fk_module_version_module_id_module"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("backbone_id", sa.Integer, sa.ForeignKey("backbone.id", name="fk_module_version_backbone_id_backbone"), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("module_version.id", name="fk_module_version_parent_id_module_version"), nullable=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("data_fingerprint", sa.String(200), nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_module_version"),
        sa.UniqueConstraint("module_id", "version", name="uq_module_version_module_id_version"),
        sa.CheckConstraint("version >= 1", name="ck_module_version_version"),
    )
    op.create_table(
        "router_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("backbone_id", sa.Integer, sa.ForeignKey("backbone.id", name="fk_router_version_backbone_id_backbone"), nullable=False),
        sa.Column("general_version_id", sa.Integer, sa.ForeignKey("module_version.id", name="fk_router_version_general_version_id_module_version"), nullable=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_router_version"),
        sa.UniqueConstraint("version", name="uq_router_version_version"),
        sa.CheckConstraint("version >= 1", name="ck_router_version_version"),
    )
    op.create_table(
        "router_member",
        sa.Column("router_version_id", sa.Integer, sa.ForeignKey("router_version.id", name="fk_router_member_router_version_id_router_version"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("module_version_id", sa.Integer, sa.ForeignKey("module_version.id", name="fk_router_member_module_version_id_module_version"), nullable=False),
        sa.PrimaryKeyConstraint("router_version_id", "position", name="pk_router_member"),
    )
    op.create_table(
        "index_record",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("general_version_id", sa.Integer, sa.ForeignKey("module_version.id", name="fk_index_record_general_version_id_module_version"), nullable=True),
        sa.Column("backbone_id", sa.Integer, sa.ForeignKey("backbone.id", name="fk_index_record_backbone_id_backbone"), nullable=False),
        sa.Column("corpus_fingerprint", sa.String(64), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_index_record"),
        sa.UniqueConstraint("name", "version", name="uq_index_record_name_version"),
    )
    op.create_table(
        "artifact_file",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_type", sa.String(32), nullable=False),
        sa.Column("owner_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_file"),
        sa.UniqueConstraint("owner_type", "owner_id", "name", name="uq_artifact_file_owner_type_owner_id_name"),
        sa.CheckConstraint("owner_type IN ('module_version', 'router_version', 'index_record')", name="ck_artifact_file_owner_type"),
        sa.CheckConstraint("size >= 0", name="ck_artifact_file_size"),
    )
    op.create_index("ix_artifact_file_owner_id", "artifact_file", ["owner_id"])
    op.create_index("ix_artifact_file_sha256", "artifact_file", ["sha256"])
    op.create_table(
        "alias",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alias"),
        sa.UniqueConstraint("scope", "name", name="uq_alias_scope_name"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )


def downgrade() -> None:
    for table in ("audit_log", "alias", "artifact_file", "index_record", "router_member", "router_version", "module_version", "module", "backbone"):
        op.drop_table(table)
