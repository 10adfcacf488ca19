"""Alembic environment for the registry; the connection is always handed in by ddr.registry.db."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `ddr-registry db upgrade`, which supplies the connection")

context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
