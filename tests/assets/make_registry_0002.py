"""Rebuild tests/assets/registry-0002.db: a registry at schema 0002 as add-domain and train-general
wrote it then (data path, instruction and training config inside the metrics JSON), with a router,
an alias and audit rows. Run from the repository root; commit the result."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, text

from ddr.registry.db import upgrade

OUT = Path(__file__).resolve().parent / "registry-0002.db"
TS = "2026-06-01 00:00:00.000000"
DOMAIN_METRICS = {
    "data": "/data/beir/old", "heldout_source": "every 5th train query", "instruction": "old questions", "heldout_ndcg@10": 0.5,
    "train": {"epochs": 10, "lr": 0.01, "prefix_length": 16},
}
GENERAL_METRICS = {"data": ["/data/beir/a", "/data/beir/b"], "heldout": {"a": 0.4}, "steps": 7, "train": {"epochs": 1}}

if __name__ == "__main__":
    OUT.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{OUT}")
    upgrade(engine, "0002")
    with engine.begin() as c:
        c.execute(text(f"INSERT INTO backbone VALUES (1, 'tiny', '{'ab' * 32}', 2, 4, 8, 32, '{TS}')"))
        c.execute(text(f"INSERT INTO module VALUES (1, 'domain', 'old', 'from schema 0002', '{TS}')"))
        c.execute(text(f"INSERT INTO module VALUES (2, 'general', 'general', '', '{TS}')"))
        c.execute(
            text(f"INSERT INTO module_version VALUES (1, 1, 1, 1, NULL, '{{}}', 'fp', :m, '{TS}', 'tester')"), {"m": json.dumps(DOMAIN_METRICS)}
        )
        c.execute(
            text(f"INSERT INTO module_version VALUES (2, 2, 1, 1, NULL, '{{}}', '', :m, '{TS}', 'tester')"), {"m": json.dumps(GENERAL_METRICS)}
        )
        c.execute(text(f"INSERT INTO router_version VALUES (1, 1, 1, NULL, '{{}}', '{{}}', '{TS}', 'tester')"))
        c.execute(text("INSERT INTO router_member VALUES (1, 0, 1)"))
        c.execute(text(f"INSERT INTO alias VALUES (1, 'router', 'production', 1, '{TS}')"))
        c.execute(text(f"INSERT INTO audit_log VALUES (1, '{TS}', 'tester', 'register', 'domain/old', NULL, 1, '')"))
        c.execute(text(f"INSERT INTO audit_log VALUES (2, '{TS}', 'tester', 'alias.set', 'router@production', NULL, 1, 'first')"))
    engine.dispose()
    print(f"wrote {OUT}")
