"""Routers and fusion weights evaluated on precomputed per-route runs (parts of ``benchmarks.quality.quality_lab``)."""

from __future__ import annotations

import torch

from ddr.retrieval.fusion import convex, fit_weight
from ddr.retrieval.metrics import evaluate, per_query
from ddr.retrieval.scoring import top_k


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
        per = data[n]["train"].get("ndcg") or {r: per_query(qs.qrels, run) for r, run in data[n]["train"]["runs"].items()}
        utility += [[per[r][q] for r in ["none", *[f"prior:{m}" for m in order]]] for q in qs.ids]
    return reps, prov, torch.tensor(utility)


def _linear_choice(router, data, order, split):
    out = {}
    for n in order:
        probs = router(data[n][split]["reps"].float())
        picks = [("none" if float(p.sum()) == 0 else f"prior:{order[int(p.argmax())]}") for p in probs]
        out[n] = dict(zip(data[n][split]["qs"].ids, picks))
    return out


def _knn_choice(reps, utility, data, order, split, k=16, min_sim=-1.0, modules=None, targets=None, margin=0.0):
    """Route by the nearest training queries' per-module gains over general-only; ``min_sim``: abstain
    when the nearest training query is less similar than this. ``modules``: the live modules (columns)."""
    modules = modules or order
    center = reps.mean(0)
    base = torch.nn.functional.normalize(reps - center, dim=-1)
    gain = utility[:, 1:] - utility[:, :1]  # each module's nDCG gain over general-only, per training query
    out = {}
    for n in targets or order:
        q = torch.nn.functional.normalize(data[n][split]["reps"].float() - center, dim=-1)
        sims, idx = top_k(q, base, k)
        w = sims.clamp(min=0).unsqueeze(-1)
        votes = (w * gain[idx]).sum(1) / w.sum(1).clamp(min=1e-9)  # the neighbours' mean gain per module
        picks = [("none" if float(v.max()) <= margin or float(sm[0]) < min_sim else f"prior:{modules[int(v.argmax())]}") for v, sm in zip(votes, sims)]
        out[n] = dict(zip(data[n][split]["qs"].ids, picks))
    return out


def _nearest_quantile(reps, q=0.05):
    """The q-quantile of each training query's similarity to its nearest other training query."""
    base = torch.nn.functional.normalize(reps - reps.mean(0), dim=-1)
    sims = base @ base.T
    sims.fill_diagonal_(-2)
    return float(torch.quantile(sims.max(-1).values, q))


def zero_shot(data, order, split: str = "test") -> dict:
    """Leave each collection out: route its test queries over the other six; delta against general-only (plain here)."""
    from ddr.trainer.router import fit_router

    reps, prov, utility = _train_matrix(data, order)
    sizes = [len(data[n]["train"]["qs"]) for n in order]
    out = {}
    for i, left in enumerate(order):
        keep = torch.cat([torch.full((s,), j != i, dtype=torch.bool) for j, s in enumerate(sizes)])
        others = [n for n in order if n != left]
        cols = [0] + [j + 1 for j, n in enumerate(order) if n != left]
        r_reps, r_util = reps[keep], utility[keep][:, cols]
        labels = torch.tensor([others.index(order[int(p)]) for p in prov[keep]])
        router = fit_router(r_reps, labels, others)
        qids = data[left][split]["qs"].ids
        probs = router(data[left][split]["reps"].float())
        prov_pick = {left: dict(zip(qids, ["none" if float(p.sum()) == 0 else f"prior:{others[int(p.argmax())]}" for p in probs]))}
        choices = {"provenance": prov_pick}
        for label, min_sim, margin in (("knn", -1.0, 0.0), ("knn+sim20%", _nearest_quantile(r_reps, 0.2), 0.0), ("knn+margin0.02", -1.0, 0.02),
                                        ("knn+margin0.05", -1.0, 0.05), ("knn+margin0.1", -1.0, 0.1)):
            choices[label] = _knn_choice(r_reps, r_util, data, order, split, min_sim=min_sim, modules=others, targets=[left], margin=margin)
        plain = {q: data[left][split]["runs"]["none"][q] for q in qids}
        bm25 = data[left][split]["bm25"]
        qrels = data[left][split]["qs"].qrels
        base_d = evaluate(qrels, plain)["nDCG@10"]
        base_h = evaluate(qrels, convex(plain, bm25, 0.5))["nDCG@10"]
        out[left] = {}
        for label, choice in choices.items():
            run = {q: data[left][split]["runs"][r][q] for q, r in choice[left].items()}
            out[left][label] = {
                "dense_delta": round(100 * (evaluate(qrels, run)["nDCG@10"] - base_d), 2),
                "hybrid_delta": round(100 * (evaluate(qrels, convex(run, bm25, 0.5))["nDCG@10"] - base_h), 2),
                "abstained": round(100 * sum(r == "none" for r in choice[left].values()) / len(qids), 1),
            }
    for label in out[order[0]]:
        print(f"zero-shot[{split}] {label:14s} dense " + " ".join(f"{out[n][label]['dense_delta']:+6.2f}" for n in order)
              + " | hybrid " + " ".join(f"{out[n][label]['hybrid_delta']:+6.2f}" for n in order)
              + " | abstained " + " ".join(f"{out[n][label]['abstained']:5.1f}" for n in order))
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
    for q in (0.05, 0.2):
        sim = _nearest_quantile(reps, q)
        choices[f"knn+sim{q:.0%}"] = lambda s, sim=sim: _knn_choice(reps, utility, data, order, s, min_sim=sim)
    for m in (0.02, 0.05, 0.1):
        choices[f"knn+margin{m}"] = lambda s, m=m: _knn_choice(reps, utility, data, order, s, margin=m)
    # lexical weights fitted on held-out: per module (its own collection's held-out, prior routing), and for abstention
    weight = {}
    for n in order:
        h = data[n]["heldout"]
        weight[f"prior:{n}"], _ = fit_weight(h["runs"][f"prior:{n}"], h["bm25"], h["qs"].qrels)
    pooled_dense = {f"{n}/{q}": r for n in order for q, r in data[n]["heldout"]["runs"]["none"].items()}
    pooled_bm25 = {f"{n}/{q}": r for n in order for q, r in data[n]["heldout"]["bm25"].items()}
    pooled_qrels = {f"{n}/{q}": j for n in order for q, j in data[n]["heldout"]["qs"].qrels.items()}
    weight["none"], _ = fit_weight(pooled_dense, pooled_bm25, pooled_qrels)
    sizes = {f"prior:{n}": len(data[n]["heldout"]["qs"]) for n in order} | {"none": len(pooled_qrels)}
    shrunk = {r: round(0.5 + (w - 0.5) * sizes[r] / (sizes[r] + 100), 3) for r, w in weight.items()}
    results = {"lexical_weights": weight, "lexical_weights_shrunk": shrunk, "splits": {},
               "n": {n: {split: len(data[n][split]["qs"]) for split in ("train", "heldout", "test")} for n in order}}
    for split in ("heldout", "test"):
        rows = {"BM25": _mean(data, order, split, {n: data[n][split]["bm25"] for n in order})}
        for name, choose in choices.items():
            choice = choose(split)
            dense = _pick(data, order, split, choice)
            rows[f"dense {name}"] = _mean(data, order, split, dense)
            rows[f"hybrid0.5 {name}"] = _mean(data, order, split, {n: convex(dense[n], data[n][split]["bm25"], 0.5) for n in order})
            fitted = {n: convex(dense[n], data[n][split]["bm25"], {q: weight[r] for q, r in choice[n].items()}) for n in order}
            rows[f"hybridfit {name}"] = _mean(data, order, split, fitted)
            shr = {n: convex(dense[n], data[n][split]["bm25"], {q: shrunk[r] for q, r in choice[n].items()}) for n in order}
            rows[f"hybridshrunk {name}"] = _mean(data, order, split, shr)
            if name not in ("oracle-prior", "none"):
                acc = sum(r == f"prior:{n}" for n in order for r in choice[n].values()) / sum(len(choice[n]) for n in order)
                rows[f"dense {name}"]["routed_to_own_collection"] = round(100 * acc, 1)
        results["splits"][split] = rows
        print(f"--- {split}")
        for sys_name, r in rows.items():
            print(f"{sys_name:28s} " + " ".join(f"{r[n]:6.2f}" for n in order) + f"   mean {r['mean']:6.2f}" + (f"  own {r['routed_to_own_collection']}%" if "routed_to_own_collection" in r else ""))
    print("lexical weights:", weight)
    results["zero_shot"] = {s: zero_shot(data, order, s) for s in ("heldout", "test")}
    return results
