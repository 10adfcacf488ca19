"""What a version's files may contain, checked before anything pulled is registered (and before a push).

JSON is read with :mod:`json` only and must be exactly one of the known config types, checked with
the very dataclasses the loader uses (:mod:`ddr.modules.config`, importable without torch) in
strict mode: a key outside them (``"type": "os.system"``, a class path, anything a loader might be
tempted to import) is refused, not dropped. Weights go through :mod:`ddr.modules.checks`, the very
checks the loader runs (names, shapes, float dtypes, finite values, the backbone's dimensions, a
router's input width): a version is imported only if it would load. Replay sets and gate data are
checked as plain data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ddr.registry import layout
from ddr.registry.transfer import PortableVersion

from .errors import ContentError

REPLAY_KEYS = {"train", "heldout", "heldout_source"}
QUERY_SET_KEYS = {"ids", "texts", "qrels"}
GATE_KEYS = {"doc_ids": list, "general_key": str, "corpus_fingerprint": str, "per_query": int}


def check_version(v: PortableVersion, folder: Path) -> None:
    """Check every file of ``v`` in ``folder`` (named as in ``v.files``); raise ContentError on the first problem."""
    data, config = _config(v, folder / layout.CONFIG_FILE)
    if data != v.config:
        raise ContentError(f"{v.ref}: config.json differs from the config recorded in the manifest")
    _weights(v, folder, config)
    names = {f.name for f in v.files}
    if layout.REPLAY_FILE in names:
        _replay(v, folder / layout.REPLAY_FILE)
    if {layout.GATE_FILE, layout.GATE_TENSORS} & names:
        if not {layout.GATE_FILE, layout.GATE_TENSORS, layout.REPLAY_FILE} <= names:
            raise ContentError(f"{v.ref}: gate data comes as gate.json and gate.safetensors, with replay.json")
        _gate(v, folder, config)


def _weights(v: PortableVersion, folder: Path, config) -> None:
    from ddr.modules import checks
    from ddr.modules.config import BackboneSpec
    from ddr.modules.errors import ArtifactError, ShapeMismatchError

    backbone = BackboneSpec.from_dict(v.backbone)
    try:
        if v.kind == "router":
            checks.check_router(folder, config, backbone)
        else:
            checks.check_prefix(folder, config, backbone)
    except (ArtifactError, ShapeMismatchError) as exc:
        raise ContentError(f"{v.ref}: {str(exc).replace(str(folder) + '/', '')}; it would not load") from None


def _load_json(v: PortableVersion, path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContentError(f"{v.ref}: {path.name} is not valid JSON ({exc})") from None


def _config(v: PortableVersion, path: Path) -> tuple[dict[str, Any], Any]:
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
    return data, config


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


def _gate(v: PortableVersion, folder: Path, config) -> None:
    from ddr.modules.checks import read_tensors
    from ddr.modules.errors import ArtifactError

    data = _load_json(v, folder / layout.GATE_FILE)
    ok = isinstance(data, dict) and set(data) == set(GATE_KEYS) and all(type(data[k]) is t for k, t in GATE_KEYS.items())
    if not ok or not all(isinstance(d, str) and d and not any(c.isspace() for c in d) for d in data["doc_ids"]):
        raise ContentError(f"{v.ref}: gate.json must hold exactly {sorted(GATE_KEYS)} (document ids: non-empty, no whitespace)")
    try:
        tensors = read_tensors(folder / layout.GATE_TENSORS, "gate data")
    except ArtifactError as exc:
        raise ContentError(f"{v.ref}: gate.safetensors: {str(exc).replace(str(folder) + '/', '')}") from None
    passages = tensors.get("passages")
    width = config.backbone_spec.hidden_size
    if set(tensors) != {"passages"} or passages.ndim != 2 or passages.shape != (len(data["doc_ids"]), width) or not np.isfinite(passages).all():
        raise ContentError(f"{v.ref}: gate.safetensors must hold one finite tensor 'passages' of shape ({len(data['doc_ids'])}, {width})")


def check_routers(versions: list[PortableVersion], local_config) -> None:
    """Each router's general and domain modules share one prefix length, as the loader requires.

    Members come with the pull (``versions``) or are already here (``local_config(kind, name, version)``).
    """
    from ddr.modules.checks import check_composition
    from ddr.modules.errors import ShapeMismatchError

    configs = {(v.kind, v.name, v.version): v.config for v in versions}
    for r in (v for v in versions if v.kind == "router"):
        members = [("domain", n, mv) for n, mv in r.domains] + ([("general", "general", r.general_version)] if r.general_version else [])
        lengths = []
        for kind, name, version in members:
            config = configs.get((kind, name, version)) or local_config(kind, name, version)
            lengths.append((f"{kind}/{name}@{version}", config.get("prefix_length")))
        try:
            check_composition(lengths)
        except ShapeMismatchError as exc:
            raise ContentError(f"{r.ref}: {exc}; it would not load") from None
