"""Where a registry lives: ``--home`` / ``DDR_HOME`` / a per-user data directory, and its database URL."""

from __future__ import annotations

import getpass
import os
import socket
from pathlib import Path


def default_home() -> Path:
    if os.environ.get("DDR_HOME"):
        return Path(os.environ["DDR_HOME"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "ddr"


def default_db_url(home: Path) -> str:
    return os.environ.get("DDR_DB_URL") or f"sqlite:///{Path(home).resolve() / 'registry.db'}"


def actor() -> str:
    """Who is acting, for the audit log (``DDR_ACTOR`` overrides)."""
    if os.environ.get("DDR_ACTOR"):
        return os.environ["DDR_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
