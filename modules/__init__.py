"""Torch side of ddr: backbone loading, prefix modules, router, routed encoder.

Never imports the registry: artifacts travel between the two as folders on disk. The names below
load on first use, so ``ddr.modules.config`` (the config dataclasses and defaults) imports without
torch and every room validates with the same classes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DEFAULT_BACKBONE": "backbone",
    "Backbone": "backbone",
    "Pooling": "backbone",
    "from_model": "backbone",
    "load_backbone": "backbone",
    "weights_sha256": "backbone",
    "DEFAULT_PREFIX_LENGTH": "config",
    "BackboneSpec": "config",
    "EncoderConfig": "config",
    "PrefixConfig": "config",
    "RouterConfig": "config",
    "DDREncoder": "encoder",
    "PrefixModule": "prefix",
    "Router": "router",
    "Route": "routing",
}
__all__ = [
    "DEFAULT_BACKBONE",
    "DEFAULT_PREFIX_LENGTH",
    "Backbone",
    "BackboneSpec",
    "DDREncoder",
    "EncoderConfig",
    "Pooling",
    "PrefixConfig",
    "PrefixModule",
    "Route",
    "Router",
    "RouterConfig",
    "from_model",
    "load_backbone",
    "weights_sha256",
]

if TYPE_CHECKING:
    from .backbone import DEFAULT_BACKBONE, Backbone, Pooling, from_model, load_backbone, weights_sha256
    from .config import DEFAULT_PREFIX_LENGTH, BackboneSpec, EncoderConfig, PrefixConfig, RouterConfig
    from .encoder import DDREncoder
    from .prefix import PrefixModule
    from .router import Router
    from .routing import Route


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
