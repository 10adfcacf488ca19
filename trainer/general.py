"""Phase 1: train the general prefix on broad data (passages and queries both see it).

Unlike a domain prefix, the general prefix changes passage embeddings, so passages are encoded in
the training loop: each batch holds queries, one positive passage per query and one hard negative
per query mined with the starting model (from its ranks ``mine_from``..``mine_to``, skipping the
judged passages, to avoid unjudged positives at the very top). InfoNCE over all passages of the
batch (in-batch negatives + hard negatives).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ddr.modules import DDREncoder, PrefixModule
from ddr.retrieval.scoring import top_k

from .config import GeneralTrainConfig
from .losses import info_nce

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Triple:
    query: str
    positive: str
    negative: str


@dataclass
class GeneralResult:
    module: PrefixModule
    losses: list[float] = field(default_factory=list)
    steps: int = 0


def mine_triples(queries, positives, doc_texts, passage_emb, query_emb, config: GeneralTrainConfig, seed: int) -> list[Triple]:
    """One (query, positive, hard negative) per query; ``positives[i]`` are row indices into the corpus."""
    gen = torch.Generator().manual_seed(seed)
    _, ranked = top_k(query_emb, passage_emb, config.mine_to)
    triples = []
    for i, q in enumerate(queries):
        if not positives[i]:
            continue
        pool = [j for j in ranked[i, config.mine_from :].tolist() if j not in set(positives[i])]
        if not pool:
            pool = [j for j in range(len(doc_texts)) if j not in set(positives[i])]
        neg = pool[int(torch.randint(len(pool), (1,), generator=gen))]
        pos = positives[i][int(torch.randint(len(positives[i]), (1,), generator=gen))]
        triples.append(Triple(q, doc_texts[pos], doc_texts[neg]))
    return triples


def title_pairs(docs: list[dict], texts: list[str], passage_emb, count: int, seed: int) -> list[Triple]:
    """Unsupervised pairs: a document's title as the query, its text as the positive, and as the negative the
    passage most similar to the positive among a random sample (a hard negative without labels)."""
    usable = [i for i, d in enumerate(docs) if d.get("title", "").strip() and d.get("text", "").strip()]
    if count <= 0 or len(usable) < 2:
        return []
    rng = torch.Generator().manual_seed(seed)
    chosen = [usable[i] for i in torch.randperm(len(usable), generator=rng)[:count].tolist()]
    out = []
    for i in chosen:
        pool = torch.randint(len(texts), (32,), generator=rng)
        pool = pool[pool != i]
        neg = int(pool[(passage_emb[pool] @ passage_emb[i]).argmax()])
        out.append(Triple(docs[i]["title"].strip(), docs[i]["text"].strip(), texts[neg]))
    return out


def balance(triples: list[Triple], per_collection: int, seed: int) -> list[Triple]:
    """Exactly ``per_collection`` triples (sampled without replacement while there are enough, then again); 0 keeps all."""
    if per_collection <= 0 or not triples:
        return triples
    gen = torch.Generator().manual_seed(seed)
    out: list[Triple] = []
    while len(out) < per_collection:
        out += [triples[i] for i in torch.randperm(len(triples), generator=gen).tolist()]
    return out[:per_collection]


class _Step(torch.nn.Module):
    """One training step's forward: the loss of a (query, positive, hard negative) batch.

    A module of its own so DistributedDataParallel can wrap it: only the general prefix requires
    gradients, and DDP averages those over the ranks in backward.
    """

    def __init__(self, encoder: DDREncoder, temperature: float) -> None:
        super().__init__()
        self.encoder, self.temperature = encoder, temperature

    def forward(self, q: dict, p: dict) -> torch.Tensor:
        n = q["input_ids"].shape[0]
        q_emb = self.encoder.embed(q["input_ids"], q["attention_mask"], torch.ones(n, 1))
        p_emb = self.encoder.embed(p["input_ids"], p["attention_mask"], torch.ones(2 * n, 1))
        return info_nce(q_emb, p_emb, torch.arange(n), self.temperature)  # in-batch + hard negatives


def train_general(
    encoder: DDREncoder, module: PrefixModule, triples: list[Triple], config: GeneralTrainConfig, echo: Callable[[str], None] | None = None,
    ddp: bool = False,
) -> GeneralResult:
    """Train ``module`` (the encoder's general prefix) on ``triples``; returns a trained copy.

    ``ddp``: this process is one rank of an initialised torch.distributed group (torchrun). Every rank
    walks the same shuffled batches and takes its slice of each (rank r: items r, r + world, ...), so
    in-batch negatives are those of the slice; DistributedDataParallel averages the gradients. A last
    batch smaller than the world is dropped (every rank must step). At the end the ranks' weights are
    compared: they must be equal.
    """
    if encoder.general is not module:
        raise ValueError("the module must be the encoder's general prefix")
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    for p in encoder.trainable_parameters():
        p.requires_grad_(False)
    for p in module.parameters():
        p.requires_grad_(True)
    step, world, rank = _Step(encoder, config.temperature), 1, 0
    if ddp:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        world, rank = dist.get_world_size(), dist.get_rank()
        device = next(module.parameters()).device
        step = DistributedDataParallel(step, device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=0.0)
    result = GeneralResult(module)
    for _ in range(config.epochs):
        order = torch.randperm(len(triples), generator=gen).tolist()
        for start in range(0, len(order), config.batch_size):
            batch = [triples[i] for i in order[start : start + config.batch_size]]
            if len(batch) < world:
                continue
            batch = batch[rank::world]
            q = encoder.tokenize([t.query for t in batch], config.query_max_length)
            p = encoder.tokenize([t.positive for t in batch] + [t.negative for t in batch], config.passage_max_length)
            loss = step(q, p)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            result.losses.append(_mean_over_ranks(loss.detach()) if ddp else loss.item())
            result.steps += 1
            if echo and result.steps % 10 == 0:
                echo(f"step {result.steps}: loss {sum(result.losses[-10:]) / 10:.4f}")
            if config.max_steps and result.steps >= config.max_steps:
                break
        if config.max_steps and result.steps >= config.max_steps:
            break
    for p in module.parameters():
        p.requires_grad_(False)
    if ddp:
        _check_ranks_agree(module)
    result.module = copy.deepcopy(module)
    return result


def _mean_over_ranks(value: torch.Tensor) -> float:
    import torch.distributed as dist

    value = value.clone().float()
    dist.all_reduce(value)
    return value.item() / dist.get_world_size()


def _check_ranks_agree(module: PrefixModule) -> None:
    """Every rank must end with the same weights (DDP kept them in step); a difference is a bug, not noise."""
    import torch.distributed as dist

    digest = float(sum(p.double().abs().sum().item() for p in module.parameters()))
    seen: list = [None] * dist.get_world_size()
    dist.all_gather_object(seen, digest)
    if max(seen) - min(seen) > 1e-9 * max(1.0, abs(digest)):
        raise RuntimeError(f"ranks ended with different general prefixes (weight sums {seen})")
