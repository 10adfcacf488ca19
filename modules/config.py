"""Configuration records saved beside every artifact, and the encoder's settings.

They are plain dataclasses, importable without torch, so every room validates with the same
classes: the registry's Hub pull checks a pulled ``config.json`` with :meth:`PrefixConfig.from_dict`
(``strict=True``: unknown or missing keys refused) before the torch side ever loads it. A registry
written by one version of the code stays readable by the next: in the default, lenient mode unknown
keys are dropped with a warning; the code version is stamped in; validation runs in
``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ddr import __version__
from ddr.errors import UsageError

from .errors import ArtifactError, ShapeMismatchError

logger = logging.getLogger(__name__)


DEFAULT_PREFIX_LENGTH = 16
MAX_PREFIX_LENGTH = 1024
DTYPES = ("float32", "bfloat16")  # what the encoder computes in (autocast); artifacts are stored in float32
DTYPE_CHOICES = ("auto", *DTYPES)  # auto: bf16 where the hardware has bf16 units (ddr.modules.precision)
ARTIFACT_DTYPES = ("float32", "bfloat16", "float16")


def _from_dict(cls: type, data: dict[str, Any], strict: bool = False) -> Any:
    """Build ``cls`` from a saved dict.

    Lenient (the default, for artifacts this registry wrote): keys this version does not know are
    dropped with a warning. Strict (for anything pulled from elsewhere): the keys must be exactly
    the dataclass's fields, so ``"type": "os.system"`` or a missing field is refused, not dropped.
    """
    if not isinstance(data, dict):
        raise ArtifactError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown and strict:
        raise ArtifactError(f"{cls.__name__}: keys no ddr config type has: {unknown}")
    if unknown:
        logger.warning("%s: ignoring unknown keys %s", cls.__name__, unknown)
    missing = sorted(known - set(data) - set(getattr(cls, "ADDED_LATER", ())))
    if missing and strict:
        raise ArtifactError(f"{cls.__name__}: missing {missing}")
    try:
        return cls(**{k: v for k, v in data.items() if k in known})
    except TypeError as exc:
        raise ArtifactError(f"{cls.__name__}: {exc}") from None


def _check_types(obj: Any) -> None:
    """Every field holds its annotated JSON type (bools are not numbers; an int is a float)."""
    types = {"str": str, "int": int, "float": (int, float), "dict[str, Any]": dict, "list[str]": list, "list[float]": list}
    for f in dataclasses.fields(obj):
        want = types.get(str(f.type))
        value = getattr(obj, f.name)
        if want is not None and (not isinstance(value, want) or isinstance(value, bool)):
            raise ArtifactError(f"{type(obj).__name__}.{f.name} must be {f.type!s}, got {type(value).__name__}")


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
        _check_types(self)
        for name in ("num_layers", "num_heads", "head_dim", "hidden_size"):
            if getattr(self, name) < 0:
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
    def from_dict(cls, data: dict[str, Any], strict: bool = False) -> BackboneSpec:
        return _from_dict(cls, data, strict)


KINDS = ("general", "domain")


@dataclass(frozen=True)
class PrefixConfig:
    """Shape and provenance of one prefix module (general or domain)."""

    kind: str = field(metadata={"help": "'general' (passages and queries) or 'domain' (queries only)"})
    name: str = field(metadata={"help": "module name, e.g. 'general' or a domain name"})
    prefix_length: int = field(default=DEFAULT_PREFIX_LENGTH, metadata={"help": "P: learned key/value vectors per layer"})
    backbone: dict[str, Any] = field(default_factory=dict, metadata={"help": "BackboneSpec as a dict"})
    dtype: str = "float32"
    code_version: str = __version__

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ArtifactError(f"prefix kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.prefix_length, int) or isinstance(self.prefix_length, bool) or not 1 <= self.prefix_length <= MAX_PREFIX_LENGTH:
            raise ArtifactError(f"prefix_length must be an integer in 1..{MAX_PREFIX_LENGTH}, got {self.prefix_length!r}")
        if self.dtype not in ARTIFACT_DTYPES:
            raise ArtifactError(f"unsupported dtype {self.dtype!r}")
        _check_types(self)

    @property
    def backbone_spec(self) -> BackboneSpec:
        return BackboneSpec.from_dict(self.backbone)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], strict: bool = False) -> PrefixConfig:
        config = _from_dict(cls, data, strict)
        if strict:
            BackboneSpec.from_dict(config.backbone, strict=True)
        return config


ROUTER_INPUTS = ("tokens", "general")
ROUTER_KINDS = ("linear", "knn")
DEFAULT_ROUTER_KIND = "knn"  # what add-domain fits (benchmarks/quality/quality_lab.py); configs without a kind are linear


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
    lexical_weights: list[float] = field(
        default_factory=list, metadata={"help": "per domain (same order): BM25's weight when a query is routed there, in hybrid search"}
    )
    lexical_weight: float = field(default=0.5, metadata={"help": "BM25's weight for a query routed to no domain (abstention)"})
    kind: str = field(default="linear", metadata={"help": "'linear' (a domain classifier) or 'knn' (the nearest training queries' gains)"})
    k: int = field(default=16, metadata={"help": "knn: how many training queries vote"})
    margin: float = field(default=0.02, metadata={"help": "knn: route only where the neighbours' mean nDCG@10 gain passes this"})
    examples: int = field(default=0, metadata={"help": "knn: how many training queries the router holds"})

    # a config written before these fields existed lacks them (it is a linear router with fixed lexical weights)
    ADDED_LATER: ClassVar[tuple[str, ...]] = ("lexical_weights", "lexical_weight", "kind", "k", "margin", "examples")

    def __post_init__(self) -> None:
        _check_types(self)
        weights = [*self.lexical_weights, self.lexical_weight]
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w <= 1 for w in weights):
            raise ArtifactError("router lexical weights must be numbers in [0, 1]")
        if self.lexical_weights and len(self.lexical_weights) != len(self.domains):
            raise ArtifactError(f"router has {len(self.lexical_weights)} lexical weights for {len(self.domains)} domains")
        if not all(isinstance(d, str) for d in self.domains):
            raise ArtifactError("router domains must be strings")
        if self.input_dim < 0 or not 0 <= self.abstain_threshold <= 1:
            raise ArtifactError("router input_dim must be >= 0 and abstain_threshold in [0, 1]")
        if self.kind not in ROUTER_KINDS:
            raise ArtifactError(f"router kind must be one of {ROUTER_KINDS}, got {self.kind!r}")
        if self.k < 1 or self.examples < 0 or not 0 <= self.margin <= 1:
            raise ArtifactError("router k must be >= 1, examples >= 0 and margin in [0, 1]")
        if self.input not in ROUTER_INPUTS:
            raise ArtifactError(f"router input must be one of {ROUTER_INPUTS}, got {self.input!r}")
        if len(set(self.domains)) != len(self.domains):
            raise ArtifactError(f"router domains must be unique, got {self.domains}")
        if not self.temperature > 0:
            raise ArtifactError(f"router temperature must be > 0, got {self.temperature}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], strict: bool = False) -> RouterConfig:
        config = _from_dict(cls, data, strict)
        if strict:
            BackboneSpec.from_dict(config.backbone, strict=True)
        return config


@dataclass(frozen=True)
class EncoderConfig:
    """Encoding settings. Queries and passages are both cut at 256 tokens by default (CISI queries
    reach about 390 tokens, LISA about 160) and never past the backbone's position embeddings
    (:meth:`~ddr.modules.encoder.DDREncoder.token_limit`); batches are sorted by length, so short
    queries pay nothing for the limit."""

    query_max_length: int = 256
    passage_max_length: int = 256
    batch_size: int = 64
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise UsageError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")
        if min(self.query_max_length, self.passage_max_length, self.batch_size) < 1:
            raise UsageError("max lengths and batch size must be positive")
