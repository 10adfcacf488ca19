"""What the benchmarks share: where data and results live, the collections' order, the machine record,
the encoding precision, timing rounds and JSON output.

Every benchmark imports these from here (``from benchmarks.common import ...``); no benchmark imports
another family's script. Scoring (exact top-k, runs, nDCG) comes from the installed library,
``ddr.retrieval.scoring`` and ``ddr.retrieval.metrics``.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "beir"
RESULTS = Path(__file__).resolve().parent / "results"

# The seven BEIR collections in the order the continual stream adds them (and every sweep follows).
ORDER = ["scifact", "nfcorpus", "cranfield", "cisi", "cacm", "npl", "lisa"]


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", set()
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")
    flags = next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())
    return model, flags


def machine() -> dict:
    import os

    import torch

    model, flags = cpu_info()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "bf16_units": bool({"avx512_bf16", "amx_bf16"} & flags),
    }


def auto_dtype() -> str:
    """The CLI's ``--dtype auto``: bf16 where the hardware has bf16 units, else fp32 (ddr.modules.precision)."""
    from ddr.modules.precision import pick_device, resolve_dtype

    return resolve_dtype("auto", pick_device())[0]


def alternate(systems: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Run every system once per round, rotating the order, and return the seconds of each run."""
    names = list(systems)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            systems[name]()
            times[name].append(time.perf_counter() - start)
    return times


def ratio(times: dict[str, list[float]], baseline: str, system: str) -> dict:
    """Throughput of ``system`` relative to ``baseline``: per-round ratios, their median and spread."""
    per_round = [b / s for b, s in zip(times[baseline], times[system])]
    return {
        "median": round(statistics.median(per_round), 3),
        "min": round(min(per_round), 3),
        "max": round(max(per_round), 3),
        "rounds": [round(x, 3) for x in per_round],
    }


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
