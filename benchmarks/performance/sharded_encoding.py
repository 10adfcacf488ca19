"""Sharded vs single-process passage encoding: ``index build`` under ``torchrun --nproc-per-node N``
against one process, on one collection, in one run.

Each round builds the index in two fresh homes (order alternating per round): one process with all
cores (torch's default threads), and N torchrun processes with cores/N threads each, so both use the
same cores. Reported: wall time of each (median over rounds), the speed ratio single/sharded (> 1:
sharding is faster), and whether the embedding caches are identical (max |difference|).

    python -m benchmarks.performance.sharded_encoding [--collection cisi] [--workers 2] [--rounds 2] [--shard 128]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, machine, write


def build(home: Path, data: Path, workers: int, shard: int, dtype: str) -> float:
    cores = os.cpu_count() or 1
    env = {**os.environ, "DDR_CACHE_SHARD": str(shard), "OMP_NUM_THREADS": str(max(1, cores // workers))}
    subprocess.run([sys.executable, "-m", "ddr", "--home", str(home), "init"], check=True, capture_output=True, env=env)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={workers}"] if workers > 1 else [sys.executable]
    argv = [*launcher, "-m", "ddr", "--home", str(home), "index", "build", "--data", str(data), "--dtype", dtype, "--quiet"]
    t = time.perf_counter()
    proc = subprocess.run(argv, check=False, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return seconds


def cache(home: Path) -> np.ndarray:
    return np.concatenate([np.load(p) for p in sorted((home / "cache" / "embeddings").glob("*/shard-*.npy"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", default="cisi")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shard", type=int, default=128, help="passages per cache shard (the unit of work)")
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()
    data = args.data / args.collection
    t0 = time.perf_counter()
    times: dict[str, list[float]] = {"single": [], "sharded": []}
    diffs = []
    tmp = Path(tempfile.mkdtemp(prefix="ddr-shard-"))
    try:
        for r in range(args.rounds):
            order = ("single", "sharded") if r % 2 == 0 else ("sharded", "single")
            homes = {}
            for mode in order:
                homes[mode] = tmp / f"{mode}-{r}"
                times[mode].append(build(homes[mode], data, args.workers if mode == "sharded" else 1, args.shard, args.dtype))
                print(f"round {r + 1} {mode}: {times[mode][-1]:.1f} s", flush=True)
            a, b = cache(homes["single"]), cache(homes["sharded"])
            diffs.append(float(np.abs(a - b).max()) if a.shape == b.shape else float("inf"))
            for h in homes.values():
                shutil.rmtree(h, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    single, sharded = statistics.median(times["single"]), statistics.median(times["sharded"])
    ratios = [s / p for s, p in zip(times["single"], times["sharded"])]
    out = {
        "benchmark": "sharded_encoding", "machine": machine(), "collection": args.collection, "workers": args.workers,
        "shard_passages": args.shard, "dtype": args.dtype, "rounds": args.rounds,
        "seconds": {"single": [round(x, 2) for x in times["single"]], "sharded": [round(x, 2) for x in times["sharded"]]},
        "median_seconds": {"single": round(single, 2), "sharded": round(sharded, 2)},
        "speed_ratio_single_over_sharded": {"median": round(statistics.median(ratios), 3), "min": round(min(ratios), 3), "max": round(max(ratios), 3)},
        "max_abs_difference": max(diffs), "identical": max(diffs) == 0.0,
        "note": "wall time of the whole command (start-up, encoding, faiss and BM25 build, registration); both modes use all cores",
        "total_seconds": round(time.perf_counter() - t0, 1), "command": "python -m benchmarks.performance.sharded_encoding",
    }
    print(f"wrote {write('sharded_encoding', out)}")


if __name__ == "__main__":
    main()
