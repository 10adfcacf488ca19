"""Metadata at scale: do `list`, `show`, resolving production and `history` stay interactive?

A registry with 1,000 module versions (100 domains x 10 versions), 200 router versions (each over
20 domains) and 10,000 audit rows, on SQLite and on PostgreSQL (127.0.0.1:5432, database ``test``,
or DDR_BENCH_PG_URL). Versions and routers are registered through the registry API (one transaction
each, as add-domain does); audit rows beyond those registrations come from alias moves
(``alias set``, through the API as well). Each operation is timed in process (the call) and as a CLI
process (what a user waits for, Python start-up included), median of --repeat runs, and against the
same operation on a registry holding one domain and one router, measured in the same run.

    python -m benchmarks.performance.metadata_scale [--repeat 5] [--domains 100] [--versions 10] [--routers 200] [--audit 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import machine, write

BACKBONE = {"name": "bench", "weights_sha256": "ab" * 32, "num_layers": 2, "num_heads": 4, "head_dim": 8, "hidden_size": 32}
INTERACTIVE_S = 1.0  # a CLI answer within a second counts as interactive


def populate(reg, tmp: Path, domains: int, versions: int, routers: int, audit: int) -> dict:
    from ddr.registry import RouterSpec
    from ddr.registry.aliases import set_alias

    folder = tmp / "artifact"
    folder.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    n = 0
    for v in range(versions):
        for d in range(domains):
            (folder / "model.safetensors").write_bytes(f"{d}-{v}".encode())
            (folder / "config.json").write_text('{"p": 1}')
            reg.register_module("domain", f"d{d:04d}", folder, {"p": 1}, BACKBONE, parent=v or None, description=f"domain {d}",
                                metrics={"heldout_ndcg@10": 0.5})
            n += 1
    modules_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for r in range(routers):
        (folder / "model.safetensors").write_bytes(f"router-{r}".encode())
        members = [(f"d{(r + j) % domains:04d}", 1 + r % versions) for j in range(min(20, domains))]
        reg.register_router(RouterSpec({"p": 1}, BACKBONE, tuple(members)), folder)
    routers_s = time.perf_counter() - t0
    with reg.read() as tx:
        from sqlalchemy import func, select

        from ddr.registry.schema import AuditRow

        have = tx.session.scalar(select(func.count()).select_from(AuditRow))
    t0 = time.perf_counter()
    set_alias(reg, "router@1", "production", reason="first", verify=False)
    moves = 1
    while have + moves < audit:
        set_alias(reg, f"router@{1 + moves % routers}", "production", reason=f"move {moves}", verify=False)
        moves += 1
    audit_s = time.perf_counter() - t0
    return {"module_versions": n, "router_versions": routers, "audit_rows": have + moves,
            "populate_seconds": {"modules": round(modules_s, 1), "routers": round(routers_s, 1), "alias_moves": round(audit_s, 1)}}


def timed(fn, repeat: int) -> float:
    fn()  # warm
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def operations(reg, home: Path, db_url: str | None, ref: str) -> dict:
    from ddr.registry.aliases import aliases, history

    env = {**os.environ, **({"DDR_DB_URL": db_url} if db_url else {})}
    base = [sys.executable, "-m", "ddr", "--home", str(home)]

    def cli(*args):
        return lambda: subprocess.run([*base, *args], env=env, check=True, capture_output=True)

    return {
        "list": ((lambda: (reg.module_versions(), reg.router_versions(), aliases(reg))), cli("list")),
        "show": ((lambda: reg.module_version(ref)), cli("show", ref)),
        "resolve_production": ((lambda: reg.router_version("router@production")), cli("show", "router@production")),
        "history": ((lambda: history(reg, None, limit=50)), cli("history")),
    }


def measure(label: str, db_url: str | None, tmp: Path, args, full: bool) -> dict:
    from ddr.registry import Registry

    home = tmp / f"{label}-{'full' if full else 'small'}"
    reg = Registry.init(home, db_url)
    sizes = populate(reg, tmp, args.domains, args.versions, args.routers, args.audit) if full else populate(reg, tmp, 1, 1, 1, 0)
    ref = "domain/d0007@3" if full else "domain/d0000@1"
    out = {"sizes": sizes, "in_process_ms": {}, "cli_ms": {}}
    for name, (call, proc) in operations(reg, home, db_url, ref).items():
        out["in_process_ms"][name] = round(1000 * timed(call, args.repeat), 2)
        out["cli_ms"][name] = round(1000 * timed(proc, args.repeat), 1)
    reg.close()
    return out


def pg_url() -> str | None:
    url = os.environ.get("DDR_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as exc:  # noqa: BLE001
        print(f"PostgreSQL not reachable ({type(exc).__name__}); measuring SQLite only")
        return None


def fresh_pg_database(url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--routers", type=int, default=200)
    parser.add_argument("--audit", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    results = {}
    pg = pg_url()
    with tempfile.TemporaryDirectory(prefix="ddr-meta-") as tmp:
        for label in ("sqlite", "postgresql"):
            if label == "postgresql" and pg is None:
                continue
            row = {}
            for full in (False, True):
                url = None if label == "sqlite" else fresh_pg_database(pg, f"ddr_meta_{'full' if full else 'small'}")
                row["large" if full else "small"] = measure(label, url, Path(tmp), args, full)
                print(label, "large" if full else "small", row["large" if full else "small"], flush=True)
            row["cli_ratio_large_over_small"] = {k: round(row["large"]["cli_ms"][k] / row["small"]["cli_ms"][k], 2) for k in row["large"]["cli_ms"]}
            row["interactive"] = {k: v / 1000 <= INTERACTIVE_S for k, v in row["large"]["cli_ms"].items()}
            results[label] = row
    out = {"benchmark": "metadata_scale", "machine": machine(), "repeat": args.repeat, "interactive_seconds": INTERACTIVE_S,
           "results": results, "seconds": round(time.perf_counter() - t0, 1), "command": "python -m benchmarks.performance.metadata_scale"}
    print(f"wrote {write('metadata_scale', out)}")


if __name__ == "__main__":
    main()
