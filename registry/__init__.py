"""Versioned module registry (SQLAlchemy + alembic). Never imports torch.

Immutable general/domain module versions and router versions, movable aliases with an audit log,
index records, and a content-addressed, sha256-verified artifact store.
"""

from __future__ import annotations

from .entities import AuditEntry, IndexRecord, ModuleVersion, RouterVersion
from .errors import AliasMovedError, ConflictError, IntegrityError, NotFoundError, RegistryIOError, SchemaError
from .refs import Ref, parse_ref
from .specs import IndexSpec, ModuleSpec, RouterSpec
from .store import Registry

__all__ = [
    "AliasMovedError",
    "AuditEntry",
    "ConflictError",
    "IndexRecord",
    "IndexSpec",
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
