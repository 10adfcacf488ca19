"""Prefix injection through transformers' attention interface.

The backbone keeps its own attention (SDPA) over the real tokens. Each layer then adds a gated
attention over the row's composed prefix::

    out = attn(q, K_tok, V_tok) + tanh(g) * attn(q, K_prefix, V_prefix)

Why this way rather than the cache argument or peft: prefix keys passed as a cache shift BERT's
position ids by P, and one batch could not mix compositions. Here positions are untouched, padding
is handled by the backbone's own mask function, and every row carries its own prefix. The zero
initialised gate ``g`` (as in LLaMA-Adapter) makes a fresh module an exact no-op while its keys
and values start from real activations, so training starts from the plain retriever.

The prefix for a row is the paper's rule applied to keys, values and gates alike:
``general + sum_i w_i * domain_i`` (a weight matrix row per batch row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTN_IMPLEMENTATION = "ddr_prefix"
PREFIX_KWARG = "ddr_prefix"


@dataclass
class PrefixState:
    """Per-row prefix composition for one forward pass.

    keys, values: (M, L, H, P, d) stacked modules; gates: (M, L, H);
    weights: (B, M) how much of each module every row uses. A row whose weights are all zero gets
    exactly the plain backbone.
    """

    keys: torch.Tensor
    values: torch.Tensor
    gates: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self) -> None:
        # Rows that share a composition share one prefix: passages (all general) cost one row.
        unique, inverse = torch.unique(self.weights.detach(), dim=0, return_inverse=True)
        if unique.shape[0] == 1:
            self._rows, self._index = self.weights[:1], None
        elif unique.shape[0] < self.weights.shape[0] and not self.weights.requires_grad:
            self._rows, self._index = unique.to(self.weights.dtype), inverse
        else:
            self._rows, self._index = self.weights, None

    def layer(self, idx: int, batch: int, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """Composed (keys, values, gate) of layer ``idx`` for ``batch`` rows."""
        w = self._rows.to(dtype)
        k = torch.einsum("bm,mhpd->bhpd", w, self.keys[:, idx].to(dtype))
        v = torch.einsum("bm,mhpd->bhpd", w, self.values[:, idx].to(dtype))
        g = torch.tanh(w @ self.gates[:, idx].to(dtype))
        if self._index is not None:
            k, v, g = k[self._index], v[self._index], g[self._index]
        elif k.shape[0] != batch:
            k, v = k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)
            g = g.expand(batch, -1)
        return k, v, g


def prefix_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Backbone SDPA attention plus the row's gated prefix attention; returns (B, Q, H, d)."""
    state: PrefixState | None = kwargs.pop(PREFIX_KWARG, None)
    out, _ = sdpa_attention_forward(
        module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
    )
    if state is None:
        return out, None
    pk, pv, gate = state.layer(module.layer_idx, query.shape[0], query.dtype)
    prefix_out = F.scaled_dot_product_attention(query, pk, pv, scale=scaling)  # (B, H, Q, d)
    out = out + (gate[:, :, None, None] * prefix_out).transpose(1, 2)
    return out, None


def register() -> None:
    """Register the attention and mask functions (idempotent).

    The mask function must be registered under the same name: transformers skips building the
    padding mask for attention implementations it has no mask function for.
    """
    AttentionInterface.register(ATTN_IMPLEMENTATION, prefix_attention_forward)
    AttentionMaskInterface.register(ATTN_IMPLEMENTATION, sdpa_mask)
