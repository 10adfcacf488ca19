"""Versioned module registry (SQLAlchemy + alembic). Never imports torch.

Immutable general/domain module versions and router versions, movable aliases with an audit log,
index records, and a content-addressed, sha256-verified artifact store.

The names below load on first use, so importing a light submodule (``ddr.registry.limits``,
``ddr.registry.refs``) does not import SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AuditEntry": "entities",
    "IndexRecord": "entities",
    "ModuleVersion": "entities",
    "RouterVersion": "entities",
    "ConflictError": "errors",
    "IntegrityError": "errors",
    "NotFoundError": "errors",
    "RegistryIOError": "errors",
    "SchemaError": "errors",
    "Ref": "refs",
    "parse_ref": "refs",
    "Registry": "store",
    "ModuleSpec": "tx",
    "RouterSpec": "tx",
}
__all__ = [
    "AuditEntry",
    "ConflictError",
    "IndexRecord",
    "IntegrityError",
    "ModuleSpec",
    "ModuleVersion",
    "NotFoundError",
    "Ref",
    "Registry",
    "RegistryIOError",
    "RouterSpec",
    "RouterVersion",
    "SchemaError",
    "parse_ref",
]

if TYPE_CHECKING:
    from .entities import AuditEntry, IndexRecord, ModuleVersion, RouterVersion
    from .errors import ConflictError, IntegrityError, NotFoundError, RegistryIOError, SchemaError
    from .refs import Ref, parse_ref
    from .store import Registry
    from .tx import ModuleSpec, RouterSpec


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
