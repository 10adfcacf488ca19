"""Scoring for the continual benchmark: dense and hybrid runs of each collection's test queries,
per-query splits, the query-encoder fine-tune reference and leave-one-out zero-shot (parts of
``benchmarks.quality.continual``; ranking and scoring come from ``ddr.retrieval``)."""

from __future__ import annotations

import copy

import torch

DEPTH = 100


def dense_run(queries: torch.Tensor, c) -> dict:
    from ddr.retrieval.scoring import rank

    return rank(queries, c.passages, c.doc_ids, c.test.ids, DEPTH)


def ndcg(run: dict, c, ids=None) -> float:
    from ddr.retrieval.metrics import evaluate

    qrels = c.test.qrels if ids is None else {q: c.test.qrels[q] for q in ids}
    return round(100 * evaluate(qrels, {q: run.get(q, {}) for q in qrels})["nDCG@10"], 2)


def hybrid(run: dict, c, weight=0.5) -> dict:
    from ddr.retrieval.fusion import convex

    return convex(run, c.bm25, weight, DEPTH)


def rrf(run: dict, c) -> dict:
    from ddr.retrieval.fusion import rrf as fuse

    return fuse(run, c.bm25, depth=DEPTH)


def routed(enc, c, route: str) -> tuple[dict, list[float]]:
    """The dense run under ``route`` and each query's lexical weight (the router's, for its domain)."""
    from ddr.service.search import lexical_weights

    q, w = enc.encode_queries(c.test.texts, route=route, return_weights=True)
    rows = [{n: float(x) for n, x in zip(enc.domains, row)} for row in w]
    return dense_run(q, c), lexical_weights(enc.router, rows)


def positives_split(c) -> tuple[list[str], list[str]]:
    """Test queries whose relevant documents were training positives of the collection, and the others."""
    seen = {d for q in c.train.ids for d in c.train.qrels[q]}
    pos = [q for q in c.test.ids if set(c.test.qrels[q]) & seen]
    return pos, [q for q in c.test.ids if q not in set(pos)]


def finetune_query_encoder(backbone, c, passages, epochs: int, lr: float = 2e-5, batch: int = 32, temperature: float = 0.05, seed: int = 0):
    """Full fine-tune of a copy of the query encoder (passages fixed), the same multi-positive InfoNCE
    over the whole corpus as the domain trainer, best epoch on the same held-out queries."""
    from ddr.modules import DDREncoder
    from ddr.retrieval.scoring import rank_and_score
    from ddr.trainer.losses import multi_positive_info_nce

    model = copy.deepcopy(backbone.model)
    enc = DDREncoder(type(backbone)(model, backbone.tokenizer, backbone.pooling, backbone.spec))
    doc_index = {d: i for i, d in enumerate(c.doc_ids)}
    positives = [[doc_index[d] for d in c.train.qrels[q] if d in doc_index] for q in c.train.ids]
    rows = [i for i, p in enumerate(positives) if p]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def heldout() -> float:
        model.eval()
        return rank_and_score(enc.encode_queries(c.heldout.texts, route="plain"), passages, c.doc_ids, c.heldout)

    best, best_state, curve = heldout(), copy.deepcopy(model.state_dict()), []
    curve.append(best)
    for _ in range(epochs):
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)
        order = [rows[i] for i in torch.randperm(len(rows), generator=gen).tolist()]
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            b = backbone.tokenizer([c.train.texts[i] for i in idx], truncation=True, max_length=256, padding=True, return_tensors="pt")
            q = backbone.pooling(model(**b).last_hidden_state, b["attention_mask"])
            loss = multi_positive_info_nce(q, passages, [positives[i] for i in idx], temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for p in model.parameters():
            p.requires_grad_(False)
        curve.append(heldout())
        if curve[-1] > best:
            best, best_state = curve[-1], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return enc, [round(100 * x, 2) for x in curve]


def without(router, left: str, sizes: dict[str, int]):
    """The final router with one domain taken out (its column, and for knn its training queries' rows),
    as if the domain had never been added: nothing is re-measured."""
    from ddr.modules import Router
    from ddr.modules.config import RouterConfig

    keep = [i for i, n in enumerate(router.domains) if n != left]
    names = [router.domains[i] for i in keep]
    cfg = router.config.to_dict()
    weights = [router.config.lexical_weights[i] for i in keep] if router.config.lexical_weights else []
    if router.config.kind == "knn":
        offsets, start = {}, 0
        for n in router.domains:
            offsets[n], start = (start, start + sizes[n]), start + sizes[n]
        rows = torch.cat([torch.arange(*offsets[n]) for n in names])
        out = Router(RouterConfig.from_dict({**cfg, "domains": names, "lexical_weights": weights, "examples": len(rows)}))
        out.load_state_dict({"keys": router.keys[rows], "gains": router.gains[rows][:, keep], "center": router.center})
        return out
    out = Router(RouterConfig.from_dict({**cfg, "domains": names, "lexical_weights": weights}))
    out.load_state_dict({"weight": router.weight[keep], "bias": router.bias[keep], "center": router.center})
    return out


def zero_shot(enc, C: dict, names: list[str], table: dict) -> dict:
    """Each collection's test queries routed (top-k) over the other live domains, as if it had never been added."""
    from ddr.modules import DDREncoder

    out = {}
    sizes = {m: len(C[m].train) for m in enc.domains}
    for n in names:
        others = [m for m in enc.domains if m != n]
        if not others or n not in enc.domains:
            continue
        loo = DDREncoder(enc.backbone, enc.general, [enc.domain_modules[m] for m in others], without(enc.router, n, sizes), enc.config)
        c = C[n]
        run, _ = routed(loo, c, "topk")
        _, w = loo.encode_queries(c.test.texts, route="topk", return_weights=True)
        out[n] = {
            "plain": table[n]["plain"], "BM25 + plain": table[n]["BM25 + plain"],
            "DDR-topk (never added)": ndcg(run, c), "BM25 + DDR-topk (never added)": ndcg(hybrid(run, c), c),
            "abstained_pct": round(100 * float((w.sum(-1) == 0).float().mean()), 1), "n": len(c.test),
        }
        out[n]["delta_vs_plain"] = round(out[n]["DDR-topk (never added)"] - out[n]["plain"], 2)
        out[n]["hybrid_delta_vs_plain"] = round(out[n]["BM25 + DDR-topk (never added)"] - out[n]["BM25 + plain"], 2)
        print(f"zero-shot {n}: {out[n]}", flush=True)
    return out
