"""Frozen records the store hands out (never ORM rows: no detached-session surprises)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .blobs import StoredFile


def _plain(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))


@dataclass(frozen=True)
class Backbone(_Record):
    name: str
    weights_sha256: str
    num_layers: int
    num_heads: int
    head_dim: int
    hidden_size: int
    source: str = ""  # where this machine loaded it from; local only, never pushed

    def portable(self) -> dict[str, Any]:
        """Identity and shape, as a BackboneSpec dict (no local path)."""
        return {k: v for k, v in self.to_dict().items() if k != "source"}


@dataclass(frozen=True)
class ModuleVersion(_Record):
    kind: str
    name: str
    version: int
    backbone_sha256: str
    config: dict[str, Any]
    files: tuple[StoredFile, ...]
    parent_version: int | None
    data_fingerprint: str
    metrics: dict[str, Any]
    created_at: datetime
    created_by: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    data_paths: tuple[str, ...] = ()
    instruction: str = ""
    train_config: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}@{self.version}"

    @property
    def scope(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class RouterVersion(_Record):
    version: int
    backbone_sha256: str
    general_version: int | None
    domains: tuple[tuple[str, int], ...]
    config: dict[str, Any]
    files: tuple[StoredFile, ...]
    metrics: dict[str, Any]
    created_at: datetime
    created_by: str
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"router@{self.version}"

    @property
    def scope(self) -> str:
        return "router"


@dataclass(frozen=True)
class IndexRecord(_Record):
    name: str
    version: int
    general_version: int | None
    backbone_sha256: str
    corpus_fingerprint: str
    params: dict[str, Any]
    files: tuple[StoredFile, ...]
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class AuditEntry(_Record):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    from_version: int | None
    to_version: int | None
    reason: str
