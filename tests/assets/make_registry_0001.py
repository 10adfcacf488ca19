"""Rebuild tests/assets/registry-0001.db: a registry at schema 0001 holding one domain version,
one router version, an alias and its audit rows. Run from the repository root; commit the result."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text

from ddr.registry.db import upgrade

OUT = Path(__file__).resolve().parent / "registry-0001.db"
TS = "2026-01-01 00:00:00.000000"

if __name__ == "__main__":
    OUT.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{OUT}")
    upgrade(engine, "0001")
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO backbone VALUES (1, 'tiny', '{'ab' * 32}', 2, 4, 8, 32, '{TS}')"))
        c.execute(text(f"INSERT INTO module VALUES (1, 'domain', 'old', 'from schema 0001', '{TS}')"))
        c.execute(text(f"INSERT INTO module_version VALUES (1, 1, 1, 1, NULL, '{{}}', 'fp', '{{}}', '{TS}', 'tester')"))
        c.execute(text(f"INSERT INTO router_version VALUES (1, 1, 1, NULL, '{{}}', '{{}}', '{TS}', 'tester')"))
        c.execute(text("INSERT INTO router_member VALUES (1, 0, 1)"))
        c.execute(text(f"INSERT INTO alias VALUES (1, 'router', 'production', 1, '{TS}')"))
        c.execute(text(f"INSERT INTO audit_log VALUES (1, '{TS}', 'tester', 'register', 'domain/old', NULL, 1, '')"))
        c.execute(text(f"INSERT INTO audit_log VALUES (2, '{TS}', 'tester', 'alias.set', 'router@production', NULL, 1, 'first')"))
    engine.dispose()
    print(f"wrote {OUT}")
