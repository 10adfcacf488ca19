"""Torch side of ddr: backbone loading, prefix modules, router, routed encoder.

Never imports the registry: artifacts travel between the two as folders on disk.
"""

from __future__ import annotations

from .backbone import DEFAULT_BACKBONE, Backbone, Pooling, from_model, load_backbone, weights_sha256
from .config import BackboneSpec, PrefixConfig, RouterConfig
from .encoder import DDREncoder, EncoderConfig
from .prefix import DEFAULT_PREFIX_LENGTH, PrefixModule
from .router import Router
from .routing import Route

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
