"""Configuration records saved beside every artifact.

They are plain dataclasses so a registry written by one version of the code stays readable by the
next: unknown keys are dropped with a warning, the code version is stamped in, and validation runs
in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

from ddr import __version__

from .errors import ArtifactError, ShapeMismatchError

logger = logging.getLogger(__name__)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build ``cls`` from a saved dict, warning about (and dropping) keys this version does not know."""
    if not isinstance(data, dict):
        raise ArtifactError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        logger.warning("%s: ignoring unknown keys %s", cls.__name__, unknown)
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise ArtifactError(f"{cls.__name__}: {exc}") from None


@dataclass(frozen=True)
class BackboneSpec:
    """Identity and shape of a frozen backbone; modules are only valid on the same shape."""

    name: str = field(metadata={"help": "path or hub id the backbone was loaded from"})
    weights_sha256: str = field(default="", metadata={"help": "sha256 over the backbone's tensors"})
    num_layers: int = 0
    num_heads: int = 0
    head_dim: int = 0
    hidden_size: int = 0

    def __post_init__(self) -> None:
        for name in ("num_layers", "num_heads", "head_dim", "hidden_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ArtifactError(f"BackboneSpec.{name} must be a non-negative integer")

    def shape(self) -> dict[str, int]:
        return {
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "hidden_size": self.hidden_size,
        }

    def check_compatible(self, other: BackboneSpec, what: str) -> None:
        """Raise a one-line error naming the first dimension where ``other`` differs."""
        for key, mine in self.shape().items():
            theirs = other.shape()[key]
            if mine != theirs:
                raise ShapeMismatchError(
                    f"{what} was trained for a backbone with {key}={theirs}, "
                    f"but the loaded backbone has {key}={mine} ({self.name})"
                )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackboneSpec:
        return _from_dict(cls, data)


KINDS = ("general", "domain")


@dataclass(frozen=True)
class PrefixConfig:
    """Shape and provenance of one prefix module (general or domain)."""

    kind: str = field(metadata={"help": "'general' (passages and queries) or 'domain' (queries only)"})
    name: str = field(metadata={"help": "module name, e.g. 'general' or a domain name"})
    prefix_length: int = field(default=16, metadata={"help": "P: learned key/value vectors per layer"})
    backbone: dict[str, Any] = field(default_factory=dict, metadata={"help": "BackboneSpec as a dict"})
    dtype: str = "float32"
    code_version: str = __version__

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ArtifactError(f"prefix kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.prefix_length, int) or not 1 <= self.prefix_length <= 1024:
            raise ArtifactError(f"prefix_length must be an integer in 1..1024, got {self.prefix_length!r}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ArtifactError(f"unsupported dtype {self.dtype!r}")

    @property
    def backbone_spec(self) -> BackboneSpec:
        return BackboneSpec.from_dict(self.backbone)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PrefixConfig:
        return _from_dict(cls, data)


ROUTER_INPUTS = ("tokens", "general")


@dataclass(frozen=True)
class RouterConfig:
    """A router over an ordered list of domains.

    ``input`` picks the query representation: ``tokens`` is the mean of the backbone's input word
    embeddings (no transformer pass, so routing is nearly free); ``general`` is the query embedding
    under the general prefix (one extra forward pass per query).
    """

    domains: list[str] = field(default_factory=list)
    input: str = "tokens"
    input_dim: int = 0
    temperature: float = 1.0
    abstain_threshold: float = field(
        default=0.0,
        metadata={"help": "route to no domain when the best domain probability is below this (0: never)"},
    )
    backbone: dict[str, Any] = field(default_factory=dict)
    code_version: str = __version__

    def __post_init__(self) -> None:
        if self.input not in ROUTER_INPUTS:
            raise ArtifactError(f"router input must be one of {ROUTER_INPUTS}, got {self.input!r}")
        if len(set(self.domains)) != len(self.domains):
            raise ArtifactError(f"router domains must be unique, got {self.domains}")
        if not self.temperature > 0:
            raise ArtifactError(f"router temperature must be > 0, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouterConfig:
        return _from_dict(cls, data)
