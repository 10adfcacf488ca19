"""What a version's files may contain, checked before anything pulled is registered (and before a push).

JSON is read with :mod:`json` only and must be exactly one of the known config types, checked with
the very dataclasses the loader uses (:mod:`ddr.modules.config`, importable without torch) in
strict mode: a key outside them (``"type": "os.system"``, a class path, anything a loader might be
tempted to import) is refused, not dropped. Weights are read with :mod:`safetensors` only, header
and shapes, never executed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ddr.registry.transfer import PortableVersion

from .errors import ContentError

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


def _config(v: PortableVersion, path: Path) -> dict[str, Any]:
    from ddr.modules.config import BackboneSpec, PrefixConfig, RouterConfig
    from ddr.modules.errors import ArtifactError

    data = _load_json(v, path)
    cls = RouterConfig if v.kind == "router" else PrefixConfig
    try:
        config = cls.from_dict(data, strict=True)
    except ArtifactError as exc:
        raise ContentError(f"{v.ref}: config.json is not a valid {cls.__name__} ({exc}); refusing it") from None
    if v.kind == "router" and config.domains != [n for n, _ in v.domains]:
        raise ContentError(f"{v.ref}: config.json routes over {config.domains}, the manifest over {[n for n, _ in v.domains]}")
    if v.kind != "router" and (config.kind, config.name) != (v.kind, v.name):
        raise ContentError(f"{v.ref}: config.json describes {config.kind}/{config.name}")
    if BackboneSpec.from_dict(config.backbone).shape() != BackboneSpec.from_dict(v.backbone).shape():
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
