"""What a version's files may contain, checked before anything pulled is registered (and before a push).

JSON is read with :mod:`json` only and must be exactly one of the known config types; a key outside
them (``"type": "os.system"``, a class path, anything a loader might be tempted to import) is
refused, not dropped. Weights are read with :mod:`safetensors` only, header and shapes, never
executed. The key sets below mirror :mod:`ddr.modules.config`'s dataclasses (importing those would
load torch into every push and pull); ``tests/test_hub.py`` asserts the two stay identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddr.registry.transfer import PortableVersion

from .errors import ContentError

# field -> JSON type, for each config dataclass in ddr.modules.config
BACKBONE_SPEC = {"name": str, "weights_sha256": str, "num_layers": int, "num_heads": int, "head_dim": int, "hidden_size": int}
PREFIX_CONFIG = {"kind": str, "name": str, "prefix_length": int, "backbone": dict, "dtype": str, "code_version": str}
ROUTER_CONFIG = {"domains": list, "input": str, "input_dim": int, "temperature": float, "abstain_threshold": float, "backbone": dict, "code_version": str}
DTYPES = ("float32", "bfloat16", "float16")
ROUTER_INPUTS = ("tokens", "general")
TENSOR_DTYPES = ("F32", "F16", "BF16", "F64")
REPLAY_KEYS = {"train", "heldout", "heldout_source"}
QUERY_SET_KEYS = {"ids", "texts", "qrels"}


def check_version(v: PortableVersion, folder: Path) -> None:
    """Check every file of ``v`` in ``folder`` (named as in ``v.files``); raise ContentError on the first problem."""
    config = _config(v, folder / "config.json")
    if config != v.config:
        raise ContentError(f"{v.ref}: config.json differs from the config recorded in the manifest")
    _tensors(v, folder / "model.safetensors", _expected_shapes(v, config))
    if any(f.name == "replay.json" for f in v.files):
        _replay(v, folder / "replay.json")


def _load_json(v: PortableVersion, path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContentError(f"{v.ref}: {path.name} is not valid JSON ({exc})") from None


def _typed(v: PortableVersion, data: Any, fields: dict[str, type], what: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContentError(f"{v.ref}: {what} must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ContentError(f"{v.ref}: {what} holds keys no ddr config type has: {unknown}; refusing it")
    missing = [k for k in required if k not in data]
    if missing:
        raise ContentError(f"{v.ref}: {what} lacks {missing}")
    for key, value in data.items():
        typ = fields[key]
        ok = (isinstance(value, (int, float)) if typ is float else isinstance(value, typ)) and not isinstance(value, bool)
        if not ok:
            raise ContentError(f"{v.ref}: {what}.{key} must be {typ.__name__}, got {type(value).__name__}")
    return data


def _config(v: PortableVersion, path: Path) -> dict[str, Any]:
    if v.kind == "router":
        data = _typed(v, _load_json(v, path), ROUTER_CONFIG, "config.json (RouterConfig)", ("domains", "input_dim", "backbone"))
        doms = data["domains"]
        if not all(isinstance(d, str) for d in doms) or doms != [n for n, _ in v.domains]:
            raise ContentError(f"{v.ref}: config.json routes over {doms}, the manifest over {[n for n, _ in v.domains]}")
        if data.get("input", "tokens") not in ROUTER_INPUTS or not data.get("temperature", 1.0) > 0:
            raise ContentError(f"{v.ref}: config.json has an unsupported router input or temperature")
    else:
        data = _typed(v, _load_json(v, path), PREFIX_CONFIG, "config.json (PrefixConfig)", ("kind", "name", "prefix_length", "backbone"))
        if (data["kind"], data["name"]) != (v.kind, v.name):
            raise ContentError(f"{v.ref}: config.json describes {data['kind']}/{data['name']}")
        if not 1 <= data["prefix_length"] <= 1024 or data.get("dtype", "float32") not in DTYPES:
            raise ContentError(f"{v.ref}: config.json has an unsupported prefix_length or dtype")
    backbone = _typed(v, data["backbone"], BACKBONE_SPEC, "config.json backbone (BackboneSpec)", tuple(BACKBONE_SPEC))
    shape = [k for k in BACKBONE_SPEC if k != "name"]
    if [backbone[k] for k in shape] != [v.backbone[k] for k in shape]:
        raise ContentError(f"{v.ref}: config.json names another backbone than the manifest")
    return data


def _expected_shapes(v: PortableVersion, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    b = config["backbone"]
    if v.kind == "router":
        n, dim = len(config["domains"]), config["input_dim"]
        return {"weight": (n, dim), "bias": (n,), "center": (dim,)}
    kv = (b["num_layers"], b["num_heads"], config["prefix_length"], b["head_dim"])
    return {"keys": kv, "values": kv, "gates": (b["num_layers"], b["num_heads"])}


def _tensors(v: PortableVersion, path: Path, expected: dict[str, tuple[int, ...]]) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            found = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except (SafetensorError, OSError, ValueError) as exc:
        raise ContentError(f"{v.ref}: model.safetensors is not a readable safetensors file ({exc})") from None
    if set(found) != set(expected):
        raise ContentError(f"{v.ref}: model.safetensors holds tensors {sorted(found)}, expected {sorted(expected)}")
    for name, (shape, dtype) in found.items():
        if shape != expected[name] or dtype not in TENSOR_DTYPES:
            raise ContentError(f"{v.ref}: tensor {name!r} is {dtype}{list(shape)}, expected a float tensor of shape {list(expected[name])}")


def _replay(v: PortableVersion, path: Path) -> None:
    data = _load_json(v, path)
    if not isinstance(data, dict) or set(data) != REPLAY_KEYS or not isinstance(data["heldout_source"], str):
        raise ContentError(f"{v.ref}: replay.json must hold exactly {sorted(REPLAY_KEYS)}")
    for part in ("train", "heldout"):
        qs = data[part]
        ok = isinstance(qs, dict) and set(qs) == QUERY_SET_KEYS
        ok = ok and all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in (qs["ids"], qs["texts"]))
        ok = ok and isinstance(qs["qrels"], dict) and all(
            isinstance(d, dict) and all(isinstance(k, str) and isinstance(g, int) for k, g in d.items()) for d in qs["qrels"].values()
        )
        if not ok:
            raise ContentError(f"{v.ref}: replay.json {part} is not a query set (ids, texts, qrels)")
