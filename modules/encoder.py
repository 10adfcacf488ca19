"""The DDR encoder: frozen backbone + general prefix + domain prefixes + router.

Passages are encoded with the general prefix only, so a passage index depends on the general
module alone. Queries use ``general + sum_i w_i * domain_i`` where the weights come from a
:class:`~ddr.modules.routing.Route`; every row of a batch may use a different route, and a batch is
still one forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from ddr.errors import UsageError

from . import checks
from .attention import PREFIX_KWARG, PrefixState
from .backbone import Backbone
from .config import EncoderConfig
from .errors import RoutingError
from .prefix import PrefixModule
from .router import Router
from .routing import Route, prior_weights, topk_weights

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class DDREncoder(nn.Module):
    """Encodes passages (general prefix) and routed queries (general + weighted domains)."""

    def __init__(
        self,
        backbone: Backbone,
        general: PrefixModule | None = None,
        domains: Sequence[PrefixModule] = (),
        router: Router | None = None,
        config: EncoderConfig | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.model = backbone.model
        self.config = config or EncoderConfig()
        self.general = general
        self.domain_modules = nn.ModuleDict({d.name: d for d in domains})
        self.router = router
        self._check_modules(general, list(domains), router)

    # ----------------------------------------------------------------- composition
    @property
    def domains(self) -> list[str]:
        return list(self.domain_modules.keys())

    def _check_modules(self, general: PrefixModule | None, domains: list[PrefixModule], router: Router | None) -> None:
        spec = self.backbone.spec
        if general is not None:
            if general.kind != "general":
                raise UsageError(f"module {general.name!r} is a {general.kind} module, not general")
            general.check_backbone(spec)
        for d in domains:
            if d.kind != "domain":
                raise UsageError(f"module {d.name!r} is a {d.kind} module, not a domain module")
            d.check_backbone(spec)
        if len(domains) != len(self.domain_modules):
            raise UsageError("domain module names must be unique")
        modules = ([general] if general is not None else []) + list(domains)
        checks.check_composition((f"{m.kind}/{m.name}", m.config.prefix_length) for m in modules)  # as a Hub pull checks
        if router is not None and router.domains and set(router.domains) - set(self.domains):
            missing = sorted(set(router.domains) - set(self.domains))
            raise RoutingError(f"router routes to domains that are not loaded: {missing}")

    def _stack(self, with_domains: bool) -> tuple[torch.Tensor, ...] | None:
        mods = ([self.general] if self.general is not None else []) + (
            list(self.domain_modules.values()) if with_domains else []
        )
        if not mods:
            return None
        return (
            torch.stack([m.keys for m in mods]),
            torch.stack([m.values for m in mods]),
            torch.stack([m.gates for m in mods]),
        )

    def full_weights(self, domain_weights: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B, M) weights over the stacked modules [general?, domains...] for ``embed``: the
        general prefix at 1 (when there is one) followed by the given domain weights."""
        cols = []
        if self.general is not None:
            cols.append(torch.ones(batch, 1))
        if domain_weights is not None:
            cols.append(domain_weights.float())
        return torch.cat(cols, dim=1) if cols else torch.zeros(batch, 0)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Prefix and router parameters: the only things ddr ever trains (the backbone is frozen)."""
        params = list(self.domain_modules.parameters())
        if self.general is not None:
            params += list(self.general.parameters())
        if self.router is not None:
            params += list(self.router.parameters())
        return params

    def token_limit(self, max_length: int) -> int:
        """``max_length`` capped at the backbone's position embeddings (a longer input would crash it)."""
        cfg = self.model.config
        positions = getattr(cfg, "max_position_embeddings", None)
        if not positions:
            return max_length
        offset = 2 if getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert") else 0  # positions start at 2
        return max(1, min(max_length, positions - offset))

    def tokenize(self, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
        """One padded batch on the backbone's device."""
        device = next(self.model.parameters()).device
        max_length = self.token_limit(max_length)
        batch = self.backbone.tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        return {k: batch[k].to(device) for k in ("input_ids", "attention_mask")}

    # ----------------------------------------------------------------- forward
    def embed(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        weights: torch.Tensor | None = None,
        with_domains: bool = False,
    ) -> torch.Tensor:
        """Pooled embeddings; ``weights`` (B, M) over the stacked modules, None = bare backbone.

        Differentiable with respect to the prefix parameters (the trainer calls this).
        """
        kwargs = {}
        stacked = self._stack(with_domains)
        if weights is not None and stacked is not None and bool((weights != 0).any()):
            keys, values, gates = stacked
            kwargs[PREFIX_KWARG] = PrefixState(keys, values, gates, weights.to(keys.device))
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        return self.backbone.pooling(out.last_hidden_state, attention_mask)

    def token_mean(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean input word embedding: the router's cheap query representation (no transformer pass)."""
        emb = self.model.get_input_embeddings()(input_ids)
        m = attention_mask.unsqueeze(-1).to(emb.dtype)
        return (emb * m).sum(1) / m.sum(1).clamp(min=1.0)

    # ----------------------------------------------------------------- routing
    def domain_weights(self, routes: Sequence[Route], batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """(B, D) domain weights for one tokenised batch, one route per row."""
        n, domains = len(routes), self.domains
        w = torch.zeros(n, len(domains))
        routed = [i for i, r in enumerate(routes) if r.needs_router]
        for i, r in enumerate(routes):
            if r.mode == "prior":
                w[i] = prior_weights(r, domains)
        if routed:
            probs = self.route_probabilities(batch, rows=routed)
            for j, i in enumerate(routed):
                w[i] = topk_weights(probs[j : j + 1], routes[i].k)[0] if routes[i].mode == "topk" else probs[j]
        return w

    def route_probabilities(self, batch: dict[str, torch.Tensor], rows: Sequence[int] | None = None) -> torch.Tensor:
        """Router probabilities over ``self.domains`` for (a subset of) a tokenised batch."""
        if self.router is None:
            raise RoutingError("this route needs a router, but none is loaded; use --route none or prior")
        ids, mask = batch["input_ids"], batch["attention_mask"]
        if rows is not None:
            ids, mask = ids[list(rows)], mask[list(rows)]
        if self.router.config.input == "tokens":
            x = self.token_mean(ids, mask)
        else:
            x = self.embed(ids, mask, self.full_weights(None, ids.shape[0]))
        probs = self.router(x.float()).float().cpu()
        # Reorder the router's columns onto the encoder's domain order (a router may know fewer).
        out = torch.zeros(probs.shape[0], len(self.domains))
        for j, name in enumerate(self.router.domains):
            out[:, self.domains.index(name)] = probs[:, j]
        return out

    # ----------------------------------------------------------------- batched encoding
    @torch.no_grad()
    def encode_passages(self, texts: Sequence[str], show_progress: bool = False) -> torch.Tensor:
        """(N, hidden) float32 passage embeddings under the general prefix only."""
        return self._encode(texts, self.config.passage_max_length, None, show_progress, "passages")

    @torch.no_grad()
    def encode_queries(
        self,
        texts: Sequence[str],
        route: str | Route | Sequence[str | Route] = "none",
        show_progress: bool = False,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """(N, hidden) query embeddings; ``route`` is one route for all rows or one per row.

        With ``return_weights`` also returns the (N, D) domain weights each row used.
        """
        routes = self._routes(route, len(texts))
        emb, weights = self._encode(texts, self.config.query_max_length, routes, show_progress, "queries", True)
        return (emb, weights) if return_weights else emb

    def _routes(self, route: str | Route | Sequence[str | Route], n: int) -> list[Route]:
        if isinstance(route, (str, Route)):
            return [Route.parse(route)] * n
        routes = [Route.parse(r) for r in route]
        if len(routes) != n:
            raise UsageError(f"got {len(routes)} routes for {n} queries")
        return routes

    def _encode(self, texts, max_length, routes, show_progress, what, want_weights=False):
        texts = list(texts)
        if any(not isinstance(t, str) for t in texts):
            raise UsageError(f"{what} must be strings")
        hidden = self.backbone.spec.hidden_size
        out = torch.zeros(len(texts), hidden)
        all_weights = torch.zeros(len(texts), len(self.domains))
        bar = tqdm(total=len(texts), desc=f"encoding {what}", disable=not show_progress, unit="text")
        for idx, batch in self._batches(texts, max_length):
            with self._autocast():
                if routes is None:
                    emb = self.embed(batch["input_ids"], batch["attention_mask"], self.full_weights(None, len(idx)))
                else:
                    rows = [routes[i] for i in idx]
                    dw = self.domain_weights(rows, batch)
                    full = self.full_weights(dw, len(idx))
                    plain = torch.tensor([r.mode == "plain" for r in rows])
                    full[plain] = 0.0
                    emb = self.embed(batch["input_ids"], batch["attention_mask"], full, with_domains=True)
                    all_weights[idx] = dw * (~plain).unsqueeze(-1)
            out[idx] = emb.float().cpu()
            bar.update(len(idx))
        bar.close()
        return (out, all_weights) if want_weights else out

    def _batches(self, texts: list[str], max_length: int) -> Iterator[tuple[torch.Tensor, dict]]:
        """Length-sorted batches (longest first) so padding stays small; yields original indices."""
        tok = self.backbone.tokenizer
        enc = tok(texts, truncation=True, max_length=self.token_limit(max_length), padding=False)
        order = sorted(range(len(texts)), key=lambda i: -len(enc["input_ids"][i]))
        device = next(self.model.parameters()).device
        size = self.config.batch_size
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            feats = [{k: enc[k][i] for k in ("input_ids", "attention_mask")} for i in idx]
            batch = tok.pad(feats, return_tensors="pt")
            yield torch.tensor(idx), {k: v.to(device) for k, v in batch.items()}

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.config.dtype == "float32":
            return contextlib.nullcontext()
        device = next(self.model.parameters()).device.type
        return torch.autocast(device_type=device, dtype=TORCH_DTYPES[self.config.dtype])
