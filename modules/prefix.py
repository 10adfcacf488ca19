"""Deep prefix modules: learned key/value vectors in every attention layer.

One module holds, for every layer ``l`` and head ``h``, P key and P value vectors plus one gate
scalar. The gate starts at zero, so a fresh module is an exact no-op on the backbone (a plain
retriever never gets worse just by attaching an untrained module); training opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from . import checks
from .backbone import Backbone
from .config import DEFAULT_PREFIX_LENGTH, BackboneSpec, PrefixConfig
from .errors import ShapeMismatchError
from .io import read_config, save_folder


class PrefixModule(nn.Module):
    """Keys and values ``(L, H, P, d)`` and gates ``(L, H)`` for one general or domain module."""

    def __init__(self, config: PrefixConfig) -> None:
        super().__init__()
        self.config = config
        spec = config.backbone_spec
        shape = (spec.num_layers, spec.num_heads, config.prefix_length, spec.head_dim)
        self.keys = nn.Parameter(torch.zeros(shape))
        self.values = nn.Parameter(torch.zeros(shape))
        self.gates = nn.Parameter(torch.zeros(spec.num_layers, spec.num_heads))

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def kind(self) -> str:
        return self.config.kind

    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}

    @classmethod
    def create(
        cls,
        backbone: Backbone,
        kind: str,
        name: str,
        prefix_length: int = DEFAULT_PREFIX_LENGTH,
        seed: int = 0,
        base: bool = True,
    ) -> PrefixModule:
        """A fresh module that leaves the backbone unchanged.

        General modules start their keys and values from the backbone's own activations over a
        seeded random token sequence (realistic scale, as P-tuning v2 advises). Domain modules start
        at zero: added to the general prefix they are an exact no-op even once the general gate is
        open, and they receive gradient through the general prefix they are added to. With
        ``base=False`` (no general module to add to: the registry's general prefix is still the
        identity) a domain module starts like a general one, since all-zero keys, values and gate
        would receive no gradient at all.
        """
        config = PrefixConfig(
            kind=kind, name=name, prefix_length=prefix_length, backbone=backbone.spec.__dict__.copy()
        )
        module = cls(config)
        if kind == "general" or not base:
            keys, values = _activations(backbone, prefix_length, seed)
            with torch.no_grad():
                module.keys.copy_(keys)
                module.values.copy_(values)
        return module

    @classmethod
    def load_state(cls, other: PrefixModule) -> PrefixModule:
        """A detached copy of ``other`` (same config, same tensors) to train into a new version."""
        module = cls(other.config)
        module.load_state_dict(other.state_dict())
        return module

    def save(self, folder: str | os.PathLike) -> Path:
        return save_folder(folder, self.state_dict(), self.config.to_dict())

    @classmethod
    def load(cls, folder: str | os.PathLike, backbone: BackboneSpec | None = None) -> PrefixModule:
        """Load strictly; with ``backbone`` given, refuse a module made for another shape."""
        config = PrefixConfig.from_dict(read_config(folder))
        tensors = checks.check_prefix(folder, config, backbone)  # the same checks a Hub pull runs
        module = cls(config)
        module.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
        return module

    def check_backbone(self, spec: BackboneSpec) -> None:
        spec.check_compatible(self.config.backbone_spec, f"{self.kind} module {self.name!r}")


@torch.no_grad()
def _activations(backbone: Backbone, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer key/value projections of the hidden states of ``length`` random vocabulary tokens."""
    model = backbone.model
    gen = torch.Generator().manual_seed(seed)
    special = set(backbone.tokenizer.all_special_ids)
    vocab = [i for i in range(model.config.vocab_size) if i not in special]
    ids = torch.tensor(vocab)[torch.randint(len(vocab), (1, length), generator=gen)]
    out = model(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
    spec = backbone.spec
    keys, values = [], []
    for layer, hidden in zip(_self_attentions(model), out.hidden_states[:-1]):
        k = layer.key(hidden).view(length, spec.num_heads, spec.head_dim).transpose(0, 1)
        v = layer.value(hidden).view(length, spec.num_heads, spec.head_dim).transpose(0, 1)
        keys.append(k)
        values.append(v)
    if len(keys) != spec.num_layers:
        raise ShapeMismatchError(f"backbone exposes {len(keys)} attention layers, expected {spec.num_layers}")
    return torch.stack(keys), torch.stack(values)


def _self_attentions(model: nn.Module) -> list[nn.Module]:
    """The self-attention modules in layer order (those with ``key``/``value`` and ``layer_idx``)."""
    found = [
        m
        for m in model.modules()
        if hasattr(m, "key") and hasattr(m, "value") and getattr(m, "layer_idx", None) is not None
    ]
    return sorted(found, key=lambda m: m.layer_idx)
