"""Serving under load: ``ddr-registry serve`` against the in-process encoder, in the same run.

    python -m benchmarks.performance.serve_load [--data ../shared/data/beir] [--requests 240] [--rounds 3]

A registry in a temp dir with the default backbone: add-domain cacm, then cisi (forced live, so
router@2 routes over two domains), an index of cacm. Then, alternating in each round:

- in-process: ``System.search`` one query at a time (the single-query time) and in batches of 32
  (the batched throughput), on cacm's test queries;
- the server (a subprocess, real HTTP through httpx) at concurrency 1, 8 and 32, each client
  sending one query per request: requests/s and p50/p95/p99 latency.

Last, a rollback under load: 8 clients for a few seconds while another process runs
``rollback router --to 1``; failed requests are counted and the delay from the rollback's exit to
the first response from router 1 is measured. Writes ``benchmarks/results/serve_load.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, auto_dtype, machine, write

LEVELS = (1, 8, 32)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(home: Path, data: Path, dtype: str) -> None:
    from ddr.registry import Registry
    from ddr.service.domain import add_domain
    from ddr.service.indexing import build_index

    reg = Registry.init(home)
    for name in ("cacm", "cisi"):
        add_domain(reg, name, data=str(data / name), force=True, progress=False, dtype=dtype)
    build_index(reg, str(data / "cacm"), dtype=dtype, progress=False)


def queries(data: Path) -> list[str]:
    from ddr.retrieval.beir import load_collection

    _, texts = load_collection(data / "cacm", "test").judged_queries()
    return list(texts)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def in_process(system, qs: list[str], n: int) -> dict:
    single = []
    for i in range(n):
        t = time.perf_counter()
        system.search([qs[i % len(qs)]], k=10)
        single.append(time.perf_counter() - t)
    batch = [qs[i % len(qs)] for i in range(n)]
    t = time.perf_counter()
    for i in range(0, n, 32):
        system.search(batch[i:i + 32], k=10)
    return {"single_p50_ms": 1000 * pct(single, 50), "single_p99_ms": 1000 * pct(single, 99), "batched_qps": n / (time.perf_counter() - t)}


async def load(url: str, token: str, qs: list[str], n: int, concurrency: int, seen: list | None = None) -> dict:
    import httpx

    latencies, failures, next_i = [], 0, 0

    async def client(c: httpx.AsyncClient) -> None:
        nonlocal failures, next_i
        while next_i < n:
            i, next_i = next_i, next_i + 1
            t = time.perf_counter()
            try:
                r = await c.post("/search", json={"query": qs[i % len(qs)], "k": 10})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            if seen is not None:
                seen.append((time.monotonic(), r.json()["router_version"] if ok else None))
            latencies.append(time.perf_counter() - t)
            failures += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120, limits=limits) as c:
        t = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(concurrency)))
        wall = time.perf_counter() - t
    return {"rps": n / wall, "p50_ms": 1000 * pct(latencies, 50), "p95_ms": 1000 * pct(latencies, 95), "p99_ms": 1000 * pct(latencies, 99),
            "failures": failures}


def start_server(home: Path, port: int, token: str, dtype: str) -> subprocess.Popen:
    import httpx

    argv = [sys.executable, "-m", "ddr", "--home", str(home), "serve", "--port", str(port), "--token", token, "--dtype", dtype,
            "--poll-interval", "0.5"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the server did not come up")


async def rollback_under_load(url: str, token: str, home: Path, qs: list[str]) -> dict:
    seen: list = []
    task = asyncio.create_task(load(url, token, qs, 10**9, 8, seen))
    await asyncio.sleep(3)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "ddr", "--home", str(home), "rollback", "router", "--to", "1",
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await proc.wait()
    done = time.monotonic()
    while not any(v == 1 for t, v in seen if t >= done) and time.monotonic() - done < 60:
        await asyncio.sleep(0.05)
    first = next((t for t, v in seen if v == 1), None)
    await asyncio.sleep(1)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    versions = [v for _, v in seen if v is not None]
    return {"requests": len(seen), "failures": sum(v is None for _, v in seen), "versions_served": sorted(set(versions)), "swap_seconds_after_rollback": None if first is None else round(first - done, 3),
            "went_back_after_swap": any(a == 1 and b == 2 for a, b in itertools.pairwise(versions))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--requests", type=int, default=240, help="requests per concurrency level per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()

    from ddr.registry import Registry
    from ddr.service.system import System

    dtype = auto_dtype() if args.dtype == "auto" else args.dtype
    tmp = Path(tempfile.mkdtemp(prefix="ddr-serve-"))
    token = "bench-" + os.urandom(8).hex()
    t0 = time.perf_counter()
    try:
        setup(tmp / "home", args.data, dtype)
        qs = queries(args.data)
        system = System(Registry(str(tmp / "home")), index="cacm", dtype=dtype)
        port = free_port()
        server = start_server(tmp / "home", port, token, dtype)
        url = f"http://127.0.0.1:{port}"
        rounds = []
        try:
            asyncio.run(load(url, token, qs, 32, 8))  # warm-up
            in_process(system, qs, 32)
            for r in range(args.rounds):
                row = {"in_process": in_process(system, qs, args.requests)}
                for c in LEVELS:
                    row[f"server_c{c}"] = asyncio.run(load(url, token, qs, args.requests, c))
                rounds.append(row)
                print(f"round {r + 1}: {row}", flush=True)
            rollback = asyncio.run(rollback_under_load(url, token, tmp / "home", qs))
        finally:
            server.terminate()
            server.wait(timeout=30)
        out = summarise(rounds, rollback)
        out.update(benchmark="serve_load", machine=machine(), dtype=dtype, queries=len(qs), requests_per_level=args.requests,
                   rounds=args.rounds, seconds=round(time.perf_counter() - t0, 1), command="python -m benchmarks.performance.serve_load")
        print(f"wrote {write('serve_load', out)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def summarise(rounds: list[dict], rollback: dict) -> dict:
    def med(key: str, field: str) -> float:
        return round(statistics.median(r[key][field] for r in rounds), 2)

    ratio_qps = [r["server_c8"]["rps"] / r["in_process"]["batched_qps"] for r in rounds]
    ratio_p99 = [r["server_c1"]["p99_ms"] / r["in_process"]["single_p50_ms"] for r in rounds]
    summary = {
        "in_process": {k: med("in_process", k) for k in ("single_p50_ms", "single_p99_ms", "batched_qps")},
        **{f"server_c{c}": {k: med(f"server_c{c}", k) for k in ("rps", "p50_ms", "p95_ms", "p99_ms", "failures")} for c in LEVELS},
        "c8_rps_over_in_process_batched": {"median": round(statistics.median(ratio_qps), 3), "min": round(min(ratio_qps), 3), "max": round(max(ratio_qps), 3)},
        "c1_p99_over_in_process_single": {"median": round(statistics.median(ratio_p99), 3), "min": round(min(ratio_p99), 3), "max": round(max(ratio_p99), 3)},
    }
    checks = {
        "c8_throughput_at_least_0.8x": summary["c8_rps_over_in_process_batched"]["median"] >= 0.8,
        "c1_p99_at_most_1.5x": summary["c1_p99_over_in_process_single"]["median"] <= 1.5,
        "no_failed_request": all(r[f"server_c{c}"]["failures"] == 0 for r in rounds for c in LEVELS),
        "rollback_no_failed_request": rollback["requests"] > 0 and rollback["failures"] == 0 and not rollback["went_back_after_swap"],
        "rollback_swap_within_2s": rollback["swap_seconds_after_rollback"] is not None and rollback["swap_seconds_after_rollback"] <= 2.0,
    }
    return {"summary": summary, "rounds": rounds, "rollback": rollback, "checks": checks}


if __name__ == "__main__":
    main()
