"""The continual benchmark's measurements after each addition and at the end (parts of ``benchmarks.quality.continual``)."""

from __future__ import annotations

import time

import torch

from benchmarks.quality.continual_eval import dense_run, hybrid, ndcg, positives_split, routed


def addition(rep, phase: dict, live_names: list[str]) -> dict:
    """One add-domain as the gate saw it: rows with n, delta and interval, the verdict, the cost."""
    rows = []
    for s in rep.scores:
        ci = s.interval(0.9) if s.before is not None else None
        rows.append({"domain": s.name, "n": s.n, "before": None if s.before is None else round(100 * s.before, 2),
                     "after": round(100 * s.after, 2), "delta": round(s.delta, 2), "interval90": [round(x, 2) for x in ci] if ci else None})
    return {
        "domain": rep.module.name, "activated": rep.activated, "reasons": list(rep.reasons), "router_version": rep.router_version,
        "best_epoch": rep.module.metrics["best_epoch"], "heldout_curve": [round(100 * x, 2) for x in rep.module.metrics["heldout_curve"]],
        "seconds": phase["seconds"], "passages_encoded": phase["passages_encoded"], "live": live_names, "gate_rows": rows,
    }


def forgetting_rows(enc, C: dict, added: list[str], live_names: list[str]) -> dict[str, dict]:
    """Test nDCG@10 of every collection added so far: prior (its own module if live, else general only),
    top-k, and top-k fused with BM25."""
    rows = {"prior": {}, "topk": {}, "hybrid topk": {}}
    for m in added:
        c = C[m]
        prior = f"prior:{m}" if m in live_names else "none"
        rows["prior"][m] = ndcg(dense_run(enc.encode_queries(c.test.texts, route=prior), c), c)
        run = dense_run(enc.encode_queries(c.test.texts, route="topk" if enc.router is not None else "none"), c)
        rows["topk"][m], rows["hybrid topk"][m] = ndcg(run, c), ndcg(hybrid(run, c), c)
    return rows


def final_rows(enc, C: dict, names: list[str], live_names: list[str], table: dict) -> None:
    for n in names:
        c = C[n]
        prior_route = f"prior:{n}" if n in live_names else "none"
        prior = dense_run(enc.encode_queries(c.test.texts, route=prior_route), c)
        table[n]["DDR-prior"], table[n]["BM25 + DDR-prior"] = ndcg(prior, c), ndcg(hybrid(prior, c), c)
        if enc.router is None:
            for key in ("DDR-topk", "DDR-soft", "BM25 + DDR-topk", "BM25 + DDR-topk (learned weights)"):
                table[n][key] = table[n]["DDR-prior"] if "BM25" not in key else table[n]["BM25 + DDR-prior"]
            continue
        topk, weights = routed(enc, c, "topk")
        table[n]["DDR-topk"] = ndcg(topk, c)
        table[n]["DDR-soft"] = ndcg(dense_run(enc.encode_queries(c.test.texts, route="soft"), c), c)
        table[n]["BM25 + DDR-topk"] = ndcg(hybrid(topk, c), c)
        table[n]["BM25 + DDR-topk (learned weights)"] = ndcg(hybrid(topk, c, dict(zip(c.test.ids, weights))), c)


def routing_report(enc, C: dict, names: list[str], table: dict) -> dict:
    """Where the router sends each collection's test queries: its own module, another, or none."""
    out = {"queries": 0, "own": 0, "abstained": 0, "per_collection": {}}
    for n in names:
        c = C[n]
        _, w = enc.encode_queries(c.test.texts, route="topk", return_weights=True) if enc.router is not None else (None, torch.zeros(len(c.test), 0))
        picks = [enc.domains[int(row.argmax())] if float(row.sum()) > 0 else None for row in w]
        own, none = sum(p == n for p in picks), sum(p is None for p in picks)
        out["per_collection"][n] = {
            "n": len(picks), "own_pct": round(100 * own / len(picks), 1), "abstained_pct": round(100 * none / len(picks), 1),
            "topk_minus_prior": round(table[n]["DDR-topk"] - table[n]["DDR-prior"], 2),
        }
        out["queries"] += len(picks)
        out["own"] += own
        out["abstained"] += none
    out["own_pct"] = round(100 * out["own"] / max(1, out["queries"]), 1)
    out["abstained_pct"] = round(100 * out["abstained"] / max(1, out["queries"]), 1)
    out["kind"] = enc.router.config.kind if enc.router is not None else None
    return out


def parameters(backbone, enc) -> dict:
    backbone_params = sum(p.numel() for p in backbone.model.parameters())
    module_params = {m.name: sum(p.numel() for p in m.parameters()) for m in enc.domain_modules.values()}
    general_params = sum(p.numel() for p in enc.general.parameters()) if enc.general is not None else 0
    router_tensors = sum(t.numel() for t in enc.router.state_dict().values()) if enc.router is not None else 0
    params = {
        "backbone": backbone_params, "general": general_params, "per_domain": module_params, "router_tensors": router_tensors,
        "per_domain_pct_of_backbone": round(100 * max(module_params.values(), default=0) / backbone_params, 3),
        "total_trainable": general_params + sum(module_params.values()),
    }
    params["total_pct_of_backbone"] = round(100 * params["total_trainable"] / backbone_params, 3)
    return params


def finetune_split(enc, c, ft_run: dict, plain_run: dict) -> dict:
    """DDR-topk, the fine-tune and plain on test queries whose relevant documents were training positives, and the rest."""
    topk = routed(enc, c, "topk")[0] if enc.router is not None else plain_run
    out = {}
    for label, ids in zip(("training positives", "others"), positives_split(c)):
        if ids:
            out[label] = {"n": len(ids), "plain": ndcg(plain_run, c, ids), "DDR-topk": ndcg(topk, c, ids), "fine-tune": ndcg(ft_run, c, ids),
                          "BM25 + DDR-topk": ndcg(hybrid(topk, c), c, ids), "BM25 + fine-tune": ndcg(hybrid(ft_run, c), c, ids)}
    return out


def results(args, names, C, dtype, gcfg, dcfg, greport, table, matrix, additions, router_eval, params, zs, ft_curves, split, phases, clock) -> dict:
    from benchmarks.common import machine
    from benchmarks.report.continual import checks

    systems = list(table[names[0]])
    out = {
        "benchmark": "continual", "version": 2,
        "command": "python -m benchmarks.quality.continual" + (" --quick" if args.quick else "") + (" --cache DIR" if args.cache else ""),
        "cache_seeded": bool(args.cache), "quick": args.quick, "order": names, "machine": machine(),
        "settings": {"general": gcfg.to_dict(), "domain": dcfg.to_dict(), "ft_epochs": args.ft_epochs, "ft_lr": 2e-5, "dtype": dtype,
                     "fusion": "min-max convex, lexical weight 0.5, top 100 of each side; RRF k=60"},
        "n": {n: {"test": len(c.test), "heldout": len(c.heldout), "train": len(c.train), "documents": len(c.doc_ids)} for n, c in C.items()},
        "general": {"activated": greport.activated, "reasons": list(greport.reasons), "steps": greport.steps,
                    "heldout": [{"collection": s.name, "n": s.n, "before": round(100 * s.before, 2), "after": round(100 * s.after, 2),
                                 "delta": round(s.delta, 2)} for s in greport.scores]},
        "table": table, "average": {s: round(sum(table[n][s] for n in names) / len(names), 2) for s in systems},
        "forgetting_matrix": matrix, "additions": additions, "router_test": router_eval, "parameters": params, "zero_shot": zs,
        "finetune_heldout_curves": ft_curves, "finetune_split": split, "phases": phases,
        "total_seconds": round(time.perf_counter() - clock, 1), "passages_in_collections": sum(len(c.doc_ids) for c in C.values()),
    }
    out["checks"] = checks(out)
    return out
