"""Bounds the registry's columns impose, in one place (torch- and SQLAlchemy-free, so the CLI can
read them for ``--help`` without importing anything heavy)."""

from __future__ import annotations

# Versions and file sizes are INTEGER columns: 32-bit signed on PostgreSQL.
MAX_VERSION = 2**31 - 1
MAX_FILE_SIZE = 2**31 - 1
