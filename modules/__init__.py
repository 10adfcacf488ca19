"""Torch side of ddr: backbone loading, prefix modules, router, routed encoder.

Never imports the registry: artifacts travel between the two as folders on disk. The names below
load on first use, so ``ddr.modules.config`` (the config dataclasses and defaults) imports without
torch and every room validates with the same classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import config

_TORCH_SIDE = {  # name -> the submodule that defines it (each imports torch)
    "DEFAULT_BACKBONE": "backbone",
    "Backbone": "backbone",
    "Pooling": "backbone",
    "from_model": "backbone",
    "load_backbone": "backbone",
    "weights_sha256": "backbone",
    "DDREncoder": "encoder",
    "PrefixModule": "prefix",
    "Router": "router",
    "Route": "routing",
}
DEFAULT_PREFIX_LENGTH = config.DEFAULT_PREFIX_LENGTH
BackboneSpec, EncoderConfig, PrefixConfig, RouterConfig = config.BackboneSpec, config.EncoderConfig, config.PrefixConfig, config.RouterConfig

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
    from .encoder import DDREncoder
    from .prefix import PrefixModule
    from .router import Router
    from .routing import Route


def __getattr__(name: str) -> Any:
    """The torch side loads on first use of one of its names (a fixed table, never a caller's string)."""
    where = _TORCH_SIDE.get(name)
    if where == "backbone":
        from . import backbone as module
    elif where == "encoder":
        from . import encoder as module
    elif where == "prefix":
        from . import prefix as module
    elif where == "router":
        from . import router as module
    elif where == "routing":
        from . import routing as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return vars(module)[name]
