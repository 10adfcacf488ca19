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
from dataclasses import dataclass, field, replace

import torch

from ddr.modules import DDREncoder, PrefixModule
from ddr.retrieval.scoring import rank

from .config import DomainTrainConfig
from .data import QuerySet
from .losses import keep_close, multi_positive_info_nce

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


class _Keep:
    """The keep-close term's pseudo-queries, their general-only embeddings (the teacher, computed once)
    and a cursor that hands out one batch per step."""

    def __init__(self, encoder: DDREncoder, pseudo: list[str], config: DomainTrainConfig) -> None:
        self.encoder, self.texts, self.config = encoder, pseudo, config
        with torch.no_grad():
            self.teacher = encoder.encode_queries(pseudo, route="none").float()
        self.order = torch.randperm(len(pseudo), generator=torch.Generator().manual_seed(config.seed + 1)).tolist()
        self.cursor = 0

    def loss(self, weights_row: torch.Tensor, passages: torch.Tensor) -> torch.Tensor:
        rows = [self.order[(self.cursor + i) % len(self.order)] for i in range(min(self.config.batch_size, len(self.order)))]
        self.cursor += len(rows)
        batch = self.encoder.tokenize([self.texts[i] for i in rows], self.config.query_max_length)
        student = self.encoder.embed(batch["input_ids"], batch["attention_mask"], weights_row.expand(len(rows), -1), with_domains=True)
        return keep_close(student, self.teacher[rows], passages, self.config.temperature)


@dataclass
class TrainResult:
    module: PrefixModule
    best_epoch: int
    heldout_ndcg: list[float] = field(default_factory=list)  # mean held-out nDCG@10 after each epoch (0: before training)
    losses: list[float] = field(default_factory=list)
    heldout_per_query: list[dict[str, float]] = field(default_factory=list)  # each query's figure, epoch by epoch
    crossfit: CrossFit | None = None  # the out-of-fold evidence, when the epoch count was chosen by cross-fitting


@dataclass
class CrossFit:
    """k-fold evidence over the training queries: each query scored by a module that never trained on it.

    ``curve[e]`` is the mean out-of-fold nDCG@10 after ``e`` epochs (a fold that stopped early keeps its
    last figures), ``epochs`` the count it chose, ``before`` / ``after`` every training query's figure
    general-only and out-of-fold at ``epochs``: an estimate of the module's gain that no choice has seen.
    """

    epochs: int
    curve: list[float]
    before: dict[str, float]
    after: dict[str, float]

    @property
    def gain(self) -> float:
        return sum(self.after[q] - self.before[q] for q in self.before) / max(1, len(self.before))


def pseudo_queries(doc_texts: list[str], doc_ids: list[str], train: QuerySet, config: DomainTrainConfig) -> list[str]:
    """Queries made from the corpus where the labels say nothing: ``config.pseudo_count`` spans of
    ``config.pseudo_words`` words, each from a document no training query judged (the inverse cloze
    task's queries). Deterministic in ``config.seed``."""
    import random

    judged = {d for q in train.ids for d in train.qrels[q]}
    pool = [words for d, t in zip(doc_ids, doc_texts) if d not in judged and len(words := t.split()) >= 4]
    if not pool:
        return []
    rng = random.Random(config.seed)
    out = []
    for _ in range(config.pseudo_count):
        words = pool[rng.randrange(len(pool))]
        n = min(config.pseudo_words, len(words))
        start = rng.randrange(len(words) - n + 1)
        out.append(" ".join(words[start : start + n]))
    return out


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
    pseudo: list[str] | None = None,
    choose: bool = True,
) -> TrainResult:
    """Train ``module`` (added to ``encoder`` under its name) and return the best epoch's copy (early
    stopping on ``heldout``), or with ``choose`` False the module after ``config.epochs`` epochs, the
    held-out queries scored only before training.

    With ``config.lexical_weight`` > 0 and ``lexical`` given, the loss is on the BM25-fused score and
    the held-out figure that picks the epoch is the fused one (hybrid search is what it will serve).
    With ``config.keep_weight`` > 0 and ``pseudo`` queries (:func:`pseudo_queries`), every step adds
    a batch of them whose ranking of the corpus is kept close to general-only's."""
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
    keep = _Keep(encoder, pseudo, config) if config.keep_weight > 0 and pseudo else None

    def heldout_score() -> float:
        """Mean held-out nDCG@10 (dense, or fused when training fused); every query's figure is kept too."""
        from ddr.retrieval.fusion import convex
        from ddr.retrieval.metrics import per_query

        run = rank(encoder.encode_queries(heldout.texts, route=route), passages, doc_ids, heldout.ids)
        scores = per_query(heldout.qrels, convex(run, lexical.heldout, config.lexical_weight) if fused else run)
        result.heldout_per_query.append(scores)
        return sum(scores.values()) / max(1, len(scores))

    result = TrainResult(copy.deepcopy(module), 0)
    result.heldout_ndcg.append(heldout_score())
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
            if keep is not None:
                loss = loss + config.keep_weight * keep.loss(weights_row, passages)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        result.losses.append(total / max(1, len(order)))
        if not choose:  # a fixed budget: the held-out queries take no part; the last epoch is the module
            result.module, result.best_epoch = module, epoch
            continue
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
    if not choose:
        result.module = copy.deepcopy(module)
    for p in result.module.parameters():
        p.requires_grad_(False)
    return result


def _subset(qs: QuerySet, keep: list[str]) -> QuerySet:
    text = dict(zip(qs.ids, qs.texts))
    return QuerySet(keep, [text[q] for q in keep], {q: qs.qrels[q] for q in keep})


def split_folds(train: QuerySet, k: int, *, by: str = "queries") -> list[list[str]]:
    """``k`` folds of the training queries: round-robin by query (``queries``), or (``documents``) whole
    groups of queries that share a judged document, so no out-of-fold query has a relevant document
    that was a training positive of its fold's module (the case of every new document a corpus gains).
    Groups go, largest first, to the fold with the fewest queries."""
    if by == "queries":
        return [[q for i, q in enumerate(train.ids) if i % k == f] for f in range(k)]
    parent = {q: q for q in train.ids}

    def root(q: str) -> str:
        while parent[q] != q:
            parent[q] = parent[parent[q]]
            q = parent[q]
        return q

    first: dict[str, str] = {}
    for q in train.ids:
        for d in train.qrels[q]:
            if d in first:
                parent[root(q)] = root(first[d])
            else:
                first[d] = q
    groups: dict[str, list[str]] = {}
    for q in train.ids:
        groups.setdefault(root(q), []).append(q)
    folds: list[list[str]] = [[] for _ in range(k)]
    for group in sorted(groups.values(), key=lambda g: (-len(g), g[0])):
        min(folds, key=len).extend(group)
    order = {q: i for i, q in enumerate(train.ids)}
    return [sorted(f, key=order.__getitem__) for f in folds]


def cross_fit(
    make: Callable[[], tuple[DDREncoder, PrefixModule]], passages: torch.Tensor, doc_ids: list[str], train: QuerySet, config: DomainTrainConfig,
    pseudo: list[str] | None = None,
) -> CrossFit:
    """Choose the epoch count on the training queries alone: ``config.folds`` modules (fresh from
    ``make``), each trained on the other folds and early-stopped on its own; the count with the best
    mean out-of-fold nDCG@10 wins (0 when no epoch beats general-only)."""
    k = min(config.folds, len(train))
    if k < 2:
        raise ValueError(f"cross-fitting needs at least 2 training queries, got {len(train)}")
    folds = split_folds(train, k, by=config.fold_by)
    traces = []
    for f, held in enumerate(folds):
        out = set(held)
        rest = [q for q in train.ids if q not in out]
        encoder, module = make()
        result = train_domain(encoder, module, passages, doc_ids, _subset(train, rest), _subset(train, held), config, pseudo=pseudo)
        traces.append(result.heldout_per_query)
    last = max(len(t) for t in traces)
    per_epoch = [{q: v for t in traces for q, v in t[min(e, len(t) - 1)].items()} for e in range(last)]
    curve = [sum(s.values()) / max(1, len(s)) for s in per_epoch]
    epochs = max(range(last), key=lambda e: (curve[e], -e))
    return CrossFit(epochs, curve, per_epoch[0], per_epoch[epochs])


def fit_domain(
    make: Callable[[], tuple[DDREncoder, PrefixModule]], passages: torch.Tensor, doc_ids: list[str], train: QuerySet, heldout: QuerySet,
    config: DomainTrainConfig, echo: Callable[[str], None] | None = None, lexical: Lexical | None = None, pseudo: list[str] | None = None,
) -> TrainResult:
    """The recipe ``config.selection`` names: ``heldout`` trains once and keeps the best epoch on the held-out
    queries (which then also judge it); ``crossfit`` chooses the epoch count by :func:`cross_fit` and
    trains on every training query for that many epochs, so the held-out queries only judge."""
    if config.selection == "heldout":
        encoder, module = make()
        return train_domain(encoder, module, passages, doc_ids, train, heldout, config, echo=echo, lexical=lexical, pseudo=pseudo)
    if lexical is not None and config.lexical_weight > 0:
        raise ValueError("cross-fitting scores dense runs; train fused with selection='heldout'")
    cv = cross_fit(make, passages, doc_ids, train, config, pseudo=pseudo)
    if echo:
        echo(f"cross-fit over {config.folds} folds: {cv.epochs} epochs (out-of-fold nDCG@10 {100 * cv.curve[0]:.2f} -> {100 * cv.curve[cv.epochs]:.2f})")
    encoder, module = make()
    result = train_domain(encoder, module, passages, doc_ids, train, heldout, replace(config, epochs=cv.epochs), echo=echo, pseudo=pseudo,
                          choose=False)
    result.crossfit = cv
    return result
