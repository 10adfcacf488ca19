"""``manifest.json``: what a Hub repository holds, and the strict reader a pull trusts nothing without.

The manifest lists every version in the repository with each file's path, sha256 and size, the
version's lineage (router members, general version, parent), backbone identity, config, metrics,
instruction and aliases. Reading it checks everything before a single artifact is downloaded: a
closed set of kinds and keys, names the registry accepts, paths that are exactly where the layout
puts them (no ``..``, no absolute or backslash paths), 64-hex hashes and bounded integer sizes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ddr import __version__
from ddr.errors import DdrError
from ddr.modules.config import BackboneSpec
from ddr.modules.errors import ArtifactError
from ddr.registry import layout, limits
from ddr.registry.blobs import StoredFile
from ddr.registry.limits import MAX_FILE_SIZE, MAX_VERSION
from ddr.registry.refs import check_name
from ddr.registry.transfer import PortableVersion

from .errors import ManifestError

MANIFEST = "manifest.json"
FORMAT = "ddr-hub-manifest"
FORMAT_VERSION = 2  # 2: modules carry instruction and train_config (1 kept them inside metrics)
MAX_MANIFEST_BYTES = 16 << 20
FILES = layout.FILES  # the closed set of files a version may hold
REQUIRED_FILES = layout.CORE_FILES
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MODULE_KEYS = {"kind", "name", "version", "files", "backbone", "config", "metrics", "created_at", "created_by", "aliases",
               "description", "parent_version", "data_fingerprint", "instruction", "train_config"}
MODULE_KEYS_V1 = MODULE_KEYS - {"instruction", "train_config"}
ROUTER_KEYS = {"kind", "version", "files", "backbone", "config", "metrics", "created_at", "created_by", "aliases",
               "domains", "general_version"}


def prefix(kind: str, name: str, version: int) -> str:
    """Where a version's files live in the repository."""
    return f"routers/v{version}" if kind == "router" else f"modules/{kind}/{name}/v{version}"


def to_json(versions: Sequence[PortableVersion]) -> bytes:
    """The manifest for ``versions``, canonical (sorted keys and versions) so equal content is equal bytes."""
    order = {"general": 0, "domain": 1, "router": 2}
    entries = [_entry(v) for v in sorted(versions, key=lambda v: (order[v.kind], v.name, v.version))]
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "ddr_version": __version__, "versions": entries}
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _entry(v: PortableVersion) -> dict[str, Any]:
    base = prefix(v.kind, v.name, v.version)
    entry: dict[str, Any] = {
        "kind": v.kind,
        "version": v.version,
        "files": [{"path": f"{base}/{f.name}", "sha256": f.sha256, "size": f.size} for f in sorted(v.files, key=lambda f: f.name)],
        "backbone": v.backbone,
        "config": v.config,
        "metrics": v.metrics,
        "created_at": v.created_at.astimezone(timezone.utc).isoformat(),
        "created_by": v.created_by,
        "aliases": sorted(v.aliases),
    }
    if v.kind == "router":
        entry["domains"] = [{"name": n, "version": dv} for n, dv in v.domains]
        entry["general_version"] = v.general_version
    else:
        entry.update(
            name=v.name, description=v.description, parent_version=v.parent_version, data_fingerprint=v.data_fingerprint,
            instruction=v.instruction, train_config=v.train_config,
        )
    return entry


def parse(data: bytes, max_file_size: int = MAX_FILE_SIZE) -> list[PortableVersion]:
    """Validate a manifest completely; raise :class:`ManifestError` (one line) on the first problem."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"{MANIFEST} is {len(data)} bytes, more than the {MAX_MANIFEST_BYTES} allowed")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{MANIFEST} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ManifestError(f"{MANIFEST} is nested too deeply to be a ddr manifest") from None
    _expect(isinstance(doc, dict), "the top level must be a JSON object")
    _expect(doc.get("format") == FORMAT, f"'format' must be {FORMAT!r}")
    fv = doc.get("format_version")
    _expect(_is_int(fv) and fv >= 1, "'format_version' must be a positive integer")
    if fv > FORMAT_VERSION:
        raise ManifestError(f"{MANIFEST} has format version {fv}, newer than this ddr reads ({FORMAT_VERSION}); upgrade ddr")
    _expect(set(doc) <= {"format", "format_version", "ddr_version", "versions"}, f"unknown top-level keys {sorted(set(doc) - {'format', 'format_version', 'ddr_version', 'versions'})}")
    _expect(isinstance(doc.get("versions"), list), "'versions' must be a list")
    versions = [_version(e, i, max_file_size, fv) for i, e in enumerate(doc["versions"])]
    seen: dict[str, set[str]] = {}
    refs = set()
    for v in versions:
        _expect(v.ref not in refs, f"{v.ref} is listed twice")
        refs.add(v.ref)
        for alias in v.aliases:
            _expect(alias not in seen.setdefault(v.scope, set()), f"alias {alias!r} is set on two versions of {v.scope}")
            seen[v.scope].add(alias)
    return versions


def _version(e: Any, i: int, max_file_size: int, format_version: int) -> PortableVersion:
    where = f"versions[{i}]"
    _expect(isinstance(e, dict), f"{where} must be an object")
    kind = e.get("kind")
    _expect(kind in FILES, f"{where}: kind must be one of {sorted(FILES)}, got {kind!r}")
    keys = ROUTER_KEYS if kind == "router" else MODULE_KEYS if format_version >= 2 else MODULE_KEYS_V1
    _expect(set(e) == keys, f"{where}: keys must be exactly {sorted(keys)} (unknown {sorted(set(e) - keys)}, missing {sorted(keys - set(e))})")
    name = "router" if kind == "router" else _name(e["name"], f"{where}.name")
    if kind == "general":
        _expect(name == "general", f"{where}: the general module is named 'general', got {name!r}")
    version = _positive(e["version"], f"{where}.version")
    where = f"{kind if kind == 'router' else f'{kind}/{name}'}@{version}"
    files = _files(e["files"], prefix(kind, name, version), FILES[kind], where, max_file_size)
    common = {
        "kind": kind, "name": name, "version": version, "files": files, "backbone": _backbone(e["backbone"], where),
        "config": _obj(e["config"], f"{where}.config"), "metrics": _obj(e["metrics"], f"{where}.metrics"),
        "created_at": _time(e["created_at"], where), "created_by": _text(e["created_by"], f"{where}.created_by", limits.MAX_ACTOR),
        "aliases": _aliases(e["aliases"], where),
    }
    if kind == "router":
        doms = e["domains"]
        _expect(isinstance(doms, list), f"{where}.domains must be a list")
        domains = []
        for j, d in enumerate(doms):
            _expect(isinstance(d, dict) and set(d) == {"name", "version"}, f"{where}.domains[{j}] must be {{name, version}}")
            domains.append((_name(d["name"], f"{where}.domains[{j}].name"), _positive(d["version"], f"{where}.domains[{j}].version")))
        _expect(len({n for n, _ in domains}) == len(domains), f"{where}: a domain is listed twice")
        return PortableVersion(domains=tuple(domains), general_version=_optional_positive(e["general_version"], f"{where}.general_version"), **common)
    return PortableVersion(
        description=_text(e["description"], f"{where}.description", limits.MAX_TEXT),
        parent_version=_optional_positive(e["parent_version"], f"{where}.parent_version"),
        data_fingerprint=_text(e["data_fingerprint"], f"{where}.data_fingerprint", 200),
        instruction=_text(e.get("instruction", ""), f"{where}.instruction", limits.MAX_TEXT),
        train_config=_obj(e.get("train_config", {}), f"{where}.train_config"),
        **common,
    )


def check_path(path: Any, base: str, where: str) -> str:
    """A repository path must be relative, plain, and directly inside ``base``; returns the file name."""
    _expect(isinstance(path, str) and path, f"{where}: file path must be a non-empty string")
    _expect("\\" not in path and "\x00" not in path, f"{where}: file path {path!r} holds a backslash or NUL")
    _expect(not path.startswith("/") and not re.match(r"^[A-Za-z]:", path), f"{where}: file path {path!r} is absolute")
    parts = path.split("/")
    _expect(not any(p in ("", ".", "..") for p in parts), f"{where}: file path {path!r} escapes or is not normalised ('..', '.', '//')")
    _expect(path.startswith(base + "/") and "/" not in path[len(base) + 1 :], f"{where}: file path {path!r} is outside {base}/")
    return path[len(base) + 1 :]


def _files(value: Any, base: str, allowed: tuple[str, ...], where: str, max_file_size: int) -> tuple[StoredFile, ...]:
    _expect(isinstance(value, list) and value, f"{where}.files must be a non-empty list")
    out = []
    for j, f in enumerate(value):
        w = f"{where}.files[{j}]"
        _expect(isinstance(f, dict) and set(f) == {"path", "sha256", "size"}, f"{w} must be exactly {{path, sha256, size}}")
        name = check_path(f["path"], base, w)
        _expect(name in allowed, f"{w}: {name!r} is not a file a {where.split('@')[0]} version holds (allowed: {', '.join(allowed)})")
        _expect(isinstance(f["sha256"], str) and SHA256_RE.match(f["sha256"]), f"{w}: sha256 must be 64 lowercase hex digits")
        _expect(_is_int(f["size"]) and f["size"] >= 0, f"{w}: size must be a non-negative integer")
        if f["size"] > max_file_size:
            raise ManifestError(f"{MANIFEST}: {f['path']} declares {f['size']} bytes, more than the {max_file_size} allowed (--max-file-size)")
        out.append(StoredFile(name, f["sha256"], f["size"]))
    names = [f.name for f in out]
    _expect(len(set(names)) == len(names), f"{where}: a file is listed twice")
    missing = [n for n in REQUIRED_FILES if n not in names]
    _expect(not missing, f"{where}: missing {missing}")
    return tuple(sorted(out, key=lambda f: f.name))


def _backbone(value: Any, where: str) -> dict[str, Any]:
    """Exactly a :class:`~ddr.modules.config.BackboneSpec` (the class the loader checks modules with)."""
    try:
        spec = BackboneSpec.from_dict(value, strict=True)
    except ArtifactError as exc:
        raise ManifestError(f"{MANIFEST}: {where}.backbone is not a BackboneSpec ({exc})") from None
    _expect(len(spec.name) <= 500, f"{where}.backbone.name is longer than 500 characters")
    _expect(bool(SHA256_RE.match(value["weights_sha256"])), f"{where}.backbone.weights_sha256 must be 64 lowercase hex digits")
    return dict(value)


def _aliases(value: Any, where: str) -> tuple[str, ...]:
    _expect(isinstance(value, list), f"{where}.aliases must be a list")
    for a in value:
        _name(a, f"{where}.aliases")
        _expect(not a.isdigit(), f"{where}: alias {a!r} is a number")
    _expect(len(set(value)) == len(value), f"{where}: an alias is listed twice")
    return tuple(sorted(value))


def _name(value: Any, where: str) -> str:
    _expect(isinstance(value, str), f"{where} must be a string")
    try:
        return check_name(value, where)
    except DdrError as exc:
        raise ManifestError(f"{MANIFEST}: {exc}") from None


def _time(value: Any, where: str) -> datetime:
    _expect(isinstance(value, str) and len(value) <= 64, f"{where}.created_at must be an ISO timestamp")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ManifestError(f"{MANIFEST}: {where}.created_at is not an ISO timestamp") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def _obj(value: Any, where: str) -> dict[str, Any]:
    _expect(isinstance(value, dict), f"{where} must be an object")
    _expect(limits.json_depth(value) <= limits.MAX_JSON_DEPTH, f"{where} is nested more than {limits.MAX_JSON_DEPTH} levels deep")
    return value


def _text(value: Any, where: str, limit: int) -> str:
    _expect(limits.text_ok(value, limit), f"{where} must be a string of at most {limit} characters, without NUL characters")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: Any, where: str) -> int:
    _expect(_is_int(value) and 1 <= value <= MAX_VERSION, f"{where} must be a positive integer (at most {MAX_VERSION})")
    return value


def _optional_positive(value: Any, where: str) -> int | None:
    return None if value is None else _positive(value, where)


def _expect(ok: bool, message: str) -> None:
    if not ok:
        raise ManifestError(f"{MANIFEST}: {message}")
