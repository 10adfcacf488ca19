"""Which precision and device encoding runs in.

``auto`` (the default for encoding) is bfloat16 where the hardware computes it natively: a CUDA GPU
that supports bf16, or a CPU with AVX512-BF16 or AMX units (measured here: 1.96-2.5x the float32
passage throughput, nDCG@10 within 0.03); float32 elsewhere (on an AVX2-only CPU bf16 autocast ran
at 0.17x). Training stays float32. The chosen dtype is part of the embedding cache key, so passages
encoded in one precision are never reused for the other.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from ddr.errors import UsageError

from .config import DTYPE_CHOICES, DTYPES

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere, which means float32)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def pick_device(name: str | None = None) -> str:
    """``DDR_DEVICE`` (default ``cpu``); ``auto``: the first CUDA device if there is one, else the CPU.

    The CPU is the default because it is the only device these encoders have been run on here; a GPU is
    opt-in (``DDR_DEVICE=cuda``) until a GPU run is on record (docs/design.md).
    """
    name = name or os.environ.get("DDR_DEVICE") or "cpu"
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu" or name.startswith("cuda"):
        if name.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"device {name!r} asked for, but torch sees no CUDA device")
        return name
    raise UsageError(f"device must be auto, cpu or cuda[:N], got {name!r}")


def resolve_dtype(name: str | None = None, device: str = "cpu") -> tuple[str, str]:
    """(dtype, why): ``auto`` resolved for ``device``; an explicit dtype is kept; None: ``DDR_DTYPE``, else auto."""
    name = name or os.environ.get("DDR_DTYPE") or "auto"
    if name not in DTYPE_CHOICES:
        raise UsageError(f"dtype must be one of {list(DTYPE_CHOICES)}, got {name!r}")
    if name in DTYPES:
        return name, "as asked"
    if device.startswith("cuda"):
        if torch.cuda.is_bf16_supported():
            return "bfloat16", f"auto: {torch.cuda.get_device_name(device)} supports bf16"
        return "float32", f"auto: {torch.cuda.get_device_name(device)} has no bf16"
    units = [f for f in BF16_CPU_FLAGS if f in cpu_flags()]
    if units:
        return "bfloat16", f"auto: this CPU has bf16 units ({', '.join(units)})"
    return "float32", "auto: this CPU has no bf16 units (AVX512-BF16 or AMX)"
