"""What a saved module or router must satisfy to load: one set of checks, shared by the loader and by Hub pull.

Torch-free (numpy only, and a safetensors reader of its own over the documented file layout), so
``ddr.hub`` runs exactly the checks :meth:`PrefixModule.load` and :meth:`Router.load` run, before
anything pulled is imported: tensor names, shapes and float dtypes from the config, finite values,
the config's backbone against the backbone it will run on, a router's input width against that
backbone, and one prefix length across the modules a router composes.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .config import BackboneSpec, PrefixConfig, RouterConfig
from .errors import ArtifactError, ShapeMismatchError

WEIGHTS_FILE = "model.safetensors"  # ddr.registry.layout names the same files (tests/test_layout.py)
CONFIG_FILE = "config.json"
FLOAT_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "BF16": None}  # BF16 widened by hand below
MAX_HEADER = 1 << 20


def read_tensors(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """Every tensor of a safetensors file as float32 numpy arrays (no torch, no pickle, no code)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing weights file") from None
    if len(data) < 8 or (n := struct.unpack("<Q", data[:8])[0]) > min(MAX_HEADER, len(data) - 8):
        raise ArtifactError(f"{path}: unreadable safetensors file (truncated or not safetensors)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, ValueError):
        raise ArtifactError(f"{path}: unreadable safetensors file (bad header)") from None
    if not isinstance(header, dict):
        raise ArtifactError(f"{path}: unreadable safetensors file (bad header)")
    body, out = data[8 + n :], {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        out[name] = _tensor(path, what, name, info, body)
    return out


def _tensor(path: Path, what: str, name: str, info, body: bytes) -> np.ndarray:
    ok = isinstance(info, dict) and isinstance(info.get("shape"), list) and isinstance(info.get("data_offsets"), list)
    if not ok or len(info["data_offsets"]) != 2 or not all(isinstance(x, int) and x >= 0 for x in [*info["shape"], *info["data_offsets"]]):
        raise ArtifactError(f"{path}: unreadable safetensors file (bad entry for {name!r})")
    dtype = info.get("dtype")
    if dtype not in FLOAT_DTYPES:
        raise ArtifactError(f"{path}: {what} tensor {name!r} has non-float dtype {dtype}")
    start, end = info["data_offsets"]
    count = int(np.prod(info["shape"])) if info["shape"] else 1
    width = 2 if dtype in ("F16", "BF16") else 8 if dtype == "F64" else 4
    if end > len(body) or end - start != count * width:
        raise ArtifactError(f"{path}: unreadable safetensors file (tensor {name!r} is truncated)")
    raw = body[start:end]
    if dtype == "BF16":
        array = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        array = np.frombuffer(raw, dtype=FLOAT_DTYPES[dtype]).astype(np.float32)
    return array.reshape(info["shape"])


def check_tensors(path: str | Path, expected: dict[str, tuple[int, ...]], what: str) -> dict[str, np.ndarray]:
    """Exactly the ``expected`` tensors (name -> shape), float, finite; else one line naming the problem."""
    tensors = read_tensors(path, what)
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ArtifactError(f"{path}: {what} tensors do not match (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != tuple(shape):
            raise ShapeMismatchError(f"{path}: {what} tensor {name!r} has shape {tuple(tensors[name].shape)}, expected {tuple(shape)}")
        if not np.isfinite(tensors[name]).all():
            raise ArtifactError(f"{path}: {what} tensor {name!r} holds NaN or Inf")
    return tensors


def prefix_shapes(config: PrefixConfig) -> dict[str, tuple[int, ...]]:
    b = config.backbone_spec
    kv = (b.num_layers, b.num_heads, config.prefix_length, b.head_dim)
    return {"keys": kv, "values": kv, "gates": (b.num_layers, b.num_heads)}


def router_shapes(config: RouterConfig) -> dict[str, tuple[int, ...]]:
    n, dim = len(config.domains), config.input_dim
    if config.kind == "knn":
        return {"keys": (config.examples, dim), "gains": (config.examples, n), "center": (dim,)}
    return {"weight": (n, dim), "bias": (n,), "center": (dim,)}


def check_prefix(folder: str | Path, config: PrefixConfig, backbone: BackboneSpec | None) -> dict[str, np.ndarray]:
    """A prefix module's folder against its config and (when given) the backbone it will run on."""
    what = f"{config.kind} module {config.name!r}"
    if backbone is not None:
        backbone.check_compatible(config.backbone_spec, what)
    return check_tensors(Path(folder) / WEIGHTS_FILE, prefix_shapes(config), what)


def check_router(folder: str | Path, config: RouterConfig, backbone: BackboneSpec | None) -> dict[str, np.ndarray]:
    """A router's folder against its config and the backbone: its input is the backbone's hidden width."""
    if backbone is not None:
        if config.backbone:
            backbone.check_compatible(BackboneSpec.from_dict(config.backbone), "router")
        if config.input_dim != backbone.hidden_size:
            raise ShapeMismatchError(
                f"router input_dim is {config.input_dim}, but queries from {backbone.name or 'the backbone'} have {backbone.hidden_size} dimensions"
            )
    return check_tensors(Path(folder) / WEIGHTS_FILE, router_shapes(config), "router")


def check_composition(prefix_lengths: Iterable[tuple[str, int]]) -> None:
    """A router's general and domain modules are summed key by key: one prefix length for all of them."""
    pairs = list(prefix_lengths)
    if len({p for _, p in pairs}) > 1:
        listed = ", ".join(f"{name} P={p}" for name, p in pairs)
        raise ShapeMismatchError(f"modules composed together must share one prefix length ({listed})")
