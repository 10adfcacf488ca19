"""Rebuild tests/assets/registry-0003.db: a registry at schema 0003 (before artifact stores were
recorded per file), made from the committed 0002 one by its own migration. Run from the repository
root after make_registry_0002.py; commit the result."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

from ddr.registry.db import upgrade

HERE = Path(__file__).resolve().parent
OUT = HERE / "registry-0003.db"

if __name__ == "__main__":
    OUT.unlink(missing_ok=True)
    shutil.copy(HERE / "registry-0002.db", OUT)
    engine = create_engine(f"sqlite:///{OUT}")
    upgrade(engine, "0003")
    with engine.begin() as c:
        c.execute(text("UPDATE module SET description = 'from schema 0003' WHERE name = 'old'"))
    engine.dispose()
    print(f"wrote {OUT}")
