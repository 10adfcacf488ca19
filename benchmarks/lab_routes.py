"""Routers and fusion weights evaluated on precomputed per-route runs (see quality_lab.py)."""

from __future__ import annotations

import torch

from ddr.retrieval.fusion import convex, fit_weight
from ddr.retrieval.metrics import evaluate


def _ndcg_per_query(run, qrels):
    from quality_lab import per_query_ndcg

    return per_query_ndcg(run, qrels)


def _pick(data, order, split, choice):
    """The routed run of every collection: ``choice[name][qid]`` is the route each query takes."""
    return {n: {q: data[n][split]["runs"][choice[n][q]][q] for q in data[n][split]["qs"].ids} for n in order}


def _mean(data, order, split, runs):
    per = {n: 100 * evaluate(data[n][split]["qs"].qrels, runs[n])["nDCG@10"] for n in order}
    return {**{n: round(v, 2) for n, v in per.items()}, "mean": round(sum(per.values()) / len(per), 2)}


def _train_matrix(data, order):
    reps = torch.cat([data[n]["train"]["reps"] for n in order]).float()
    prov = torch.cat([torch.full((len(data[n]["train"]["qs"]),), i) for i, n in enumerate(order)])
    utility = []
    for n in order:
        qs = data[n]["train"]["qs"]
        per = {r: _ndcg_per_query(run, qs.qrels) for r, run in data[n]["train"]["runs"].items()}
        utility += [[per[r][q] for r in ["none", *[f"prior:{m}" for m in order]]] for q in qs.ids]
    return reps, prov, torch.tensor(utility)


def _linear_choice(router, data, order, split):
    out = {}
    for n in order:
        probs = router(data[n][split]["reps"].float())
        picks = [("none" if float(p.sum()) == 0 else f"prior:{order[int(p.argmax())]}") for p in probs]
        out[n] = dict(zip(data[n][split]["qs"].ids, picks))
    return out


def _knn_choice(reps, utility, data, order, split, k=16):
    center = reps.mean(0)
    base = torch.nn.functional.normalize(reps - center, dim=-1)
    gain = utility[:, 1:] - utility[:, :1]  # each module's nDCG gain over general-only, per training query
    out = {}
    for n in order:
        q = torch.nn.functional.normalize(data[n][split]["reps"].float() - center, dim=-1)
        sims, idx = (q @ base.T).topk(k, dim=-1)
        votes = (sims.clamp(min=0).unsqueeze(-1) * gain[idx]).sum(1)
        picks = [("none" if float(v.max()) <= 0 else f"prior:{order[int(v.argmax())]}") for v in votes]
        out[n] = dict(zip(data[n][split]["qs"].ids, picks))
    return out


def evaluate_all(data, order) -> dict:
    from ddr.trainer.router import fit_router

    reps, prov, utility = _train_matrix(data, order)
    choices = {"oracle-prior": lambda s: {n: {q: f"prior:{n}" for q in data[n][s]["qs"].ids} for n in order},
               "none": lambda s: {n: {q: "none" for q in data[n][s]["qs"].ids} for n in order}}
    prov_router = fit_router(reps, prov, order)
    util_labels = utility[:, 1:].argmax(-1)
    util_router = fit_router(reps, util_labels, order)
    choices["provenance"] = lambda s: _linear_choice(prov_router, data, order, s)
    choices["utility-linear"] = lambda s: _linear_choice(util_router, data, order, s)
    choices["knn"] = lambda s: _knn_choice(reps, utility, data, order, s)
    # lexical weights fitted on held-out: per module (its own collection's held-out, prior routing), and for abstention
    weight = {}
    for n in order:
        h = data[n]["heldout"]
        weight[f"prior:{n}"], _ = fit_weight(h["runs"][f"prior:{n}"], h["bm25"], h["qs"].qrels)
    pooled_dense = {f"{n}/{q}": r for n in order for q, r in data[n]["heldout"]["runs"]["none"].items()}
    pooled_bm25 = {f"{n}/{q}": r for n in order for q, r in data[n]["heldout"]["bm25"].items()}
    pooled_qrels = {f"{n}/{q}": j for n in order for q, j in data[n]["heldout"]["qs"].qrels.items()}
    weight["none"], _ = fit_weight(pooled_dense, pooled_bm25, pooled_qrels)
    results = {"lexical_weights": weight, "splits": {}}
    for split in ("heldout", "test"):
        rows = {"BM25": _mean(data, order, split, {n: data[n][split]["bm25"] for n in order})}
        for name, choose in choices.items():
            choice = choose(split)
            dense = _pick(data, order, split, choice)
            rows[f"dense {name}"] = _mean(data, order, split, dense)
            rows[f"hybrid0.5 {name}"] = _mean(data, order, split, {n: convex(dense[n], data[n][split]["bm25"], 0.5) for n in order})
            fitted = {n: convex(dense[n], data[n][split]["bm25"], {q: weight[r] for q, r in choice[n].items()}) for n in order}
            rows[f"hybridfit {name}"] = _mean(data, order, split, fitted)
            if name not in ("oracle-prior", "none"):
                acc = sum(r == f"prior:{n}" for n in order for r in choice[n].values()) / sum(len(choice[n]) for n in order)
                rows[f"dense {name}"]["routed_to_own_collection"] = round(100 * acc, 1)
        results["splits"][split] = rows
        print(f"--- {split}")
        for sys_name, r in rows.items():
            print(f"{sys_name:28s} " + " ".join(f"{r[n]:6.2f}" for n in order) + f"   mean {r['mean']:6.2f}" + (f"  own {r['routed_to_own_collection']}%" if "routed_to_own_collection" in r else ""))
    print("lexical weights:", weight)
    return results
