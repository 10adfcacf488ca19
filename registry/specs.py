"""What a version's rows hold besides its files: one spec object per entity, from the caller to :class:`~ddr.registry.tx.Tx`.

Registration (:meth:`~ddr.registry.Registry.register`, ``register_router``, ``register_index``) and
import (:mod:`ddr.registry.transfer`) build one of these and hand it through unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ModuleSpec:
    """Everything a module version's rows hold besides its files."""

    kind: str
    name: str
    config: dict[str, Any]
    backbone: dict[str, Any]
    parent: int | None = None
    data_fingerprint: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str | None = None  # None: keep the module's description as it is
    data_paths: tuple[str, ...] = ()
    instruction: str = ""
    train_config: dict[str, Any] = field(default_factory=dict)
    backbone_source: str = ""  # local only: where this machine loads the backbone from


@dataclass(frozen=True)
class RouterSpec:
    """Everything a router version's rows hold besides its files: the exact ordered members."""

    config: dict[str, Any]
    backbone: dict[str, Any]
    domains: tuple[tuple[str, int], ...]
    general_version: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    backbone_source: str = ""


@dataclass(frozen=True)
class IndexSpec:
    """Everything an index record's rows hold besides its files."""

    name: str
    backbone: dict[str, Any]
    corpus_fingerprint: str
    general_version: int | None
    params: dict[str, Any]
    backbone_source: str = ""


@dataclass(frozen=True)
class Origin:
    """Who made a version and when: here and now (registration), or elsewhere (import keeps both)."""

    version: int | None = None  # None: allocate the next one
    created_at: datetime | None = None
    created_by: str | None = None
    action: str = "register"
    reason: str = ""


HERE = Origin()
