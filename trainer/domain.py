"""Phase 2: train one domain prefix on the query side only, against cached passage embeddings.

Passages only ever see the general prefix, so their embeddings are fixed while a domain trains:
they are computed once (and cached), and every training step scores queries against the whole
corpus (all other passages are negatives). Only the new module's parameters get an optimiser;
backbone, general prefix and other domains are frozen. The best epoch on the held-out queries is
kept (early stopping), and epoch 0 — the untrained no-op module — is a candidate too, so training
can never hand back something worse than general-only on held-out queries.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ddr.modules import DDREncoder, PrefixModule
from ddr.retrieval.scoring import rank, rank_and_score

from .config import DomainTrainConfig
from .data import QuerySet
from .losses import multi_positive_info_nce

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lexical:
    """BM25's view of the training data: ``train`` is (n_train, n_docs), each row the query's BM25 scores
    over the passages scaled to [0, 1]; ``heldout`` is BM25's run (top 100) for the held-out queries."""

    train: torch.Tensor
    heldout: dict[str, dict[str, float]]


def lexical_view(doc_texts: list[str], doc_ids: list[str], train: QuerySet, heldout: QuerySet, depth: int = 1000) -> Lexical:
    """BM25 over the corpus for the training queries (their top ``depth``, scaled per query) and the held-out ones."""
    from ddr.retrieval.bm25 import LexicalIndex

    index = LexicalIndex.build(doc_texts)
    rows, scores = index.search(train.texts, depth)
    matrix = torch.zeros(len(train), len(doc_ids))
    for i, (r, sc) in enumerate(zip(rows, scores)):
        top = float(max(sc.max(), 1e-9))
        matrix[i, torch.as_tensor(r.astype("int64"))] = torch.as_tensor(sc, dtype=torch.float32) / top
    return Lexical(matrix, index.run(doc_ids, heldout.ids, heldout.texts, 100))


@dataclass
class TrainResult:
    module: PrefixModule
    best_epoch: int
    heldout_ndcg: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def _positives(qs: QuerySet, doc_index: dict[str, int]) -> list[list[int]]:
    return [[doc_index[d] for d in qs.qrels[q] if d in doc_index] for q in qs.ids]


def train_domain(
    encoder: DDREncoder,
    module: PrefixModule,
    passages: torch.Tensor,
    doc_ids: list[str],
    train: QuerySet,
    heldout: QuerySet,
    config: DomainTrainConfig,
    echo: Callable[[str], None] | None = None,
    lexical: Lexical | None = None,
) -> TrainResult:
    """Train ``module`` (added to ``encoder`` under its name) and return the best epoch's copy.

    With ``config.lexical_weight`` > 0 and ``lexical`` given, the loss is on the BM25-fused score and
    the held-out figure that picks the epoch is the fused one (hybrid search is what it will serve)."""
    if module.name not in encoder.domain_modules:
        raise ValueError(f"module {module.name!r} must be loaded in the encoder")
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    doc_index = {d: i for i, d in enumerate(doc_ids)}
    positives = _positives(train, doc_index)
    usable = [i for i, p in enumerate(positives) if p]
    for p in encoder.trainable_parameters():
        p.requires_grad_(False)
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    passages = passages.float()
    route = f"prior:{module.name}"
    weights_row = encoder.full_weights(torch.tensor([[1.0 if n == module.name else 0.0 for n in encoder.domains]]), 1)

    fused = lexical is not None and config.lexical_weight > 0

    def heldout_score() -> float:
        from ddr.retrieval.fusion import convex
        from ddr.retrieval.metrics import evaluate

        q = encoder.encode_queries(heldout.texts, route=route)
        if not fused:
            return rank_and_score(q, passages, doc_ids, heldout)
        return evaluate(heldout.qrels, convex(rank(q, passages, doc_ids, heldout.ids), lexical.heldout, config.lexical_weight))["nDCG@10"]

    result = TrainResult(copy.deepcopy(module), 0, [heldout_score()])
    best, bad_epochs = result.heldout_ndcg[0], 0
    for epoch in range(1, config.epochs + 1):
        order = [usable[i] for i in torch.randperm(len(usable), generator=gen).tolist()]
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            batch = encoder.tokenize([train.texts[i] for i in rows], config.query_max_length)
            q = encoder.embed(batch["input_ids"], batch["attention_mask"], weights_row.expand(len(rows), -1), with_domains=True)
            # Multi-positive InfoNCE over the whole corpus: every judged passage of the query is a positive.
            lex = lexical.train[rows] if fused else None
            loss = multi_positive_info_nce(q, passages, [positives[i] for i in rows], config.temperature, lex, config.lexical_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        result.losses.append(total / max(1, len(order)))
        score = heldout_score()
        result.heldout_ndcg.append(score)
        if echo:
            echo(f"epoch {epoch}: loss {result.losses[-1]:.4f}, held-out nDCG@10 {100 * score:.2f}")
        logger.info("%s epoch %d loss %.4f heldout %.4f", module.name, epoch, result.losses[-1], score)
        if score > best:
            best, bad_epochs = score, 0
            result.module, result.best_epoch = copy.deepcopy(module), epoch
        else:
            bad_epochs += 1
            if bad_epochs >= config.patience:
                break
    for p in result.module.parameters():
        p.requires_grad_(False)
    return result
