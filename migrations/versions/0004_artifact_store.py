"""Which artifact store holds each file, and the registry's settings (the default artifact store).

``artifact_file.store`` is ``local`` (the home's own blobs folder, every row until now) or an
``s3://bucket/prefix`` URI. ``registry_setting`` holds key/value settings every home of a shared
registry reads: ``artifacts``, the store new files go to unless a command says otherwise.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("artifact_file", sa.Column("store", sa.String(500), nullable=False, server_default="local"))
    op.create_table(
        "registry_setting",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    conn = op.get_bind()
    remote = conn.execute(sa.text("SELECT COUNT(*) FROM artifact_file WHERE store <> 'local'")).scalar()
    if remote:
        raise RuntimeError(f"{remote} artifact file row(s) live in object storage; revision 0003 cannot record that: refusing to downgrade")
    op.drop_table("registry_setting")
    with op.batch_alter_table("artifact_file") as batch:
        batch.drop_column("store")
