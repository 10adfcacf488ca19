"""The quality and recipe sections of ``docs/benchmarks.md``: add-domain against fine-tuning (``add_domain.json``),
the trainer defaults (``trainer_sweep.json``), the gate from stored data (``gate_data.json``), routers and fusion
(``quality_lab.json``), the gate rules (``gate_sim.json``) and the domain recipe (``recipe_sweep.json``).
Rendered by ``benchmarks.report.docs``; the helpers are in ``benchmarks.report.format``."""

from __future__ import annotations

from benchmarks.report.format import Doc, f, table

LAB_ROWS = ("oracle-prior", "none", "provenance", "utility-linear", "knn", "knn+margin0.02", "knn+margin0.05", "knn+margin0.1", "knn+sim20%")


def add_domain(doc: Doc) -> None:
    file = "add_domain.json"
    d = doc.data[file]
    t, sec = d["test_ndcg@10"], d["seconds"]
    any_ = next(iter(t.values()))
    doc.add(
        "## add-domain against fine-tuning",
        "",
        f"`python -m benchmarks.quality.add_domain --epochs {d['epochs']}`, {d['collection']}, one run each, the same training queries and "
        f"{d['epochs']} epochs for all: `add-domain` end to end (fresh registry; encodes the corpus once), a bi-encoder full fine-tune",
        "(passages in the loop, then the corpus re-encoded) and a query-encoder full fine-tune against the cached passages.",
        "Test nDCG@10 × 100 is split by whether a test query's relevant documents were training positives (fine-tuning",
        "gains there are mostly memorisation). " + doc.ran_on(file),
        "",
    )
    label = {"plain": "plain backbone", "add_domain_prior": "`add-domain` (prior routing)",
             "biencoder_finetune": "bi-encoder full fine-tune + re-encoding", "query_encoder_finetune": "query-encoder full fine-tune"}
    secs = {"add_domain_prior": sec["add_domain"], "biencoder_finetune": sec["biencoder_finetune_and_reencode"],
            "query_encoder_finetune": sec["query_encoder_finetune"]}
    rows = [[label.get(k, k), f(secs.get(k), 1), f(v["all"]), f(v["seen_docs"]), f(v["unseen_docs"])] for k, v in t.items()]
    parts = ("all", "seen_docs", "unseen_docs")
    if any(v[f"{k}_queries"] != any_[f"{k}_queries"] for v in t.values() for k in parts):
        rows = [[r[0], r[1]] + [f"{c} (n={v[f'{k}_queries']})" for c, k in zip(r[2:], parts)] for r, v in zip(rows, t.values())]
        counts = ["", "", ""]
    else:
        counts = [f" (n={any_[f'{k}_queries']})" for k in parts]
    doc.add(*table(["system", "wall time s", "all test queries" + counts[0], "relevant docs were training positives" + counts[1],
                    "the others" + counts[2]], rows))
    trained = [v["unseen_docs"] for k, v in t.items() if k != "plain"]
    doc.add(
        f"add-domain took {f(d['ratio_add_domain_vs_biencoder'], 3)}× the time of the bi-encoder fine-tune (target <= {f(d['target_ratio'])}×: "
        + ("met" if d["ratio_add_domain_vs_biencoder"] <= d["target_ratio"] else "**missed**")
        + "; most of add-domain's time is the one-off corpus encoding, which a later domain never repeats for earlier corpora). "
        f"The fine-tunes' lead comes from the queries whose relevant documents were training positives; on the others the three "
        f"trained systems lie within {f(max(trained) - min(trained))} points of each other ({f(min(trained))}–{f(max(trained))}). "
        f"add-domain's best held-out epoch was {d['add_domain_best_epoch']} of {d['epochs']}.",
        "",
    )


def trainer_sweep(doc: Doc) -> None:
    file = "trainer_sweep.json"
    d = doc.data[file]
    used = doc.data.get("continual_v1.json", {}).get("settings", {}).get("domain")
    doc.add(
        "## Trainer defaults",
        "",
        f"`python -m benchmarks.sweeps.trainer_sweep --collection {d['collection']}`: query-side training variants on {d['collection']}, each a fresh",
        f"domain prefix against cached passages (identity general prefix), chosen on held-out queries ({d['heldout']}); test",
        "nDCG@10 of the kept module is for information only. " + doc.ran_on(file),
        "",
    )
    rows = []
    for name, v in d["variants"].items():
        c = v["config"]
        mark = " (the continual run's settings)" if used == c else ""
        rows.append([name + mark, str(c["prefix_length"]), f"{c['lr']:g}", str(c["epochs"]), str(v["epochs_run"]), str(v["best_epoch"]),
                     f(v["heldout_general_only"]), f(v["heldout_best"]), f(v["seconds"], 1), f(v["test_ndcg@10"])])
    doc.add(*table(["variant", "P", "lr", "max epochs", "epochs run", "best epoch", "held-out, general only", "held-out, best", "seconds", "test"], rows))
    doc.add(
        "*n*: `trainer_sweep.json` does not record the number of held-out or test queries. Only one collection was swept;",
        "tried and not yet measured: prefix reparameterisation (an MLP over the prefix during training, as in P-tuning v2),",
        "graded-relevance weighting in the loss, the temperature.",
        "",
    )


def gate_data(doc: Doc) -> None:
    file = "gate_data.json"
    d = doc.data[file]
    s = d["summary"]
    doc.add(
        "## The gate from stored data against the gate from full corpora",
        "",
        "`benchmarks/quality/gate_data.py` runs the seven collections through add-domain (forced live, so each step has every",
        "earlier domain to score) and, at each step, recomputes the gate's rows for the same candidate on the full corpora.",
        "add-domain itself scores earlier domains against the gate data their versions carry (judged passages and each",
        "held-out query's top 100 under general-only and under its module), so it needs none of their corpora.",
        f"Command: `python -m benchmarks.quality.gate_data`. {doc.ran_on(file)} Wall time {f(s['wall_minutes'], 1)} min.",
        "",
        f"Decisions that agree: **{s['decisions_agree']} of {s['decisions']}**; earlier-domain rows: {s['rows']}, of which "
        f"{s['rows_same_delta_within_0.01']} have the same delta within 0.01 point (largest difference {f(s['max_abs_delta_difference'])}, "
        f"mean {f(s['mean_abs_delta_difference'], 3)}); rows on the same side of the 0.5-point threshold: {s['row_refusals_agree']} of {s['rows']}.",
        "",
    )
    rows = []
    for step in d["steps"]:
        for e in step["earlier"]:
            rows.append([f"+{step['added']}", e["domain"], str(e["heldout_queries"]), f"{e['pool']} / {e['corpus']}",
                         f"{e['stored']['delta']:+.2f}", f"{e['full']['delta']:+.2f}",
                         "refused" if not step["verdict_stored"]["passed"] else "passed",
                         "refused" if not step["verdict_full"]["passed"] else "passed"])
    doc.add(*table(["step", "earlier domain", "n held-out", "gate pool / corpus", "delta, stored", "delta, full corpus",
                    "verdict, stored", "verdict, full"], rows))
    doc.add("")


def quality_lab(doc: Doc) -> None:
    file = "quality_lab.json"
    d = doc.data[file]
    names = d["order"]
    doc.add(
        "## Routers and fusion, side by side (`quality_lab.py`)",
        "",
        "The seven domain modules trained once through add-domain (all forced live, default recipe, identity general",
        "prefix); every held-out and test query's top 100 under BM25, general-only and each module precomputed, so each",
        "router is a choice of module per query and every system below ranks the same runs. *provenance* is the linear",
        "router fitted on which collection a training query came from; *utility-linear* the same router fitted on which",
        "module retrieves the query best; *knn* votes with the 16 nearest training queries' per-module gains over",
        "general-only (route where the mean gain passes the margin; *sim20%*: also abstain when the nearest training",
        "query is less similar than the 20 % quantile); *oracle-prior* sends every query to its own collection's module.",
        "Hybrid rows fuse BM25 at 0.5 (min-max convex, top 100 of each side). " + doc.ran_on(file),
        "",
    )
    for split in ("heldout", "test"):
        rows = d["splits"][split]
        n = "held-out" if split == "heldout" else "test"
        body = [["BM25", *[f(rows["BM25"][c]) for c in names], f(rows["BM25"]["mean"]), ""]]
        for r in LAB_ROWS:
            for kind in ("dense", "hybrid0.5"):
                key = f"{kind} {r}"
                if key in rows:
                    own = rows[key].get("routed_to_own_collection")
                    label = f"{'BM25 + ' if kind == 'hybrid0.5' else ''}{r}"
                    body.append([label, *[f(rows[key][c]) for c in names], f(rows[key]["mean"]), "" if own is None else f"{own:.1f}"])
        counts = ", ".join(f"{c} {d['n'][c][split]}" for c in names)
        doc.add(f"**{n} nDCG@10 × 100** (mean over collections; n: {counts}):", "")
        doc.add(*table(["system", *names, "mean", "own module %"], body))
    doc.add("Lexical weight fitted per module on its held-out queries: "
            + ", ".join(f"{k.removeprefix('prior:')} {v}" for k, v in d["lexical_weights"].items())
            + ". On test, fused with these weights the oracle-prior system scored "
            + f"{f(d['splits']['test']['hybridfit oracle-prior']['mean'])} against {f(d['splits']['test']['hybrid0.5 oracle-prior']['mean'])} at 0.5 "
            + f"({f(d['splits']['test']['hybridshrunk oracle-prior']['mean'])} with the weights shrunk toward 0.5 by held-out size).", "")
    for split in ("heldout", "test"):
        z = d["zero_shot"][split]
        labels = list(next(iter(z.values())))
        body = [[lab, *[f"{z[c][lab]['dense_delta']:+.2f} / {z[c][lab]['hybrid_delta']:+.2f}" for c in names]] for lab in labels]
        doc.add(f"Leave-one-out zero-shot, {split}: delta against plain, dense / hybrid (router refit without the collection):", "")
        doc.add(*table(["router", *names], body))


def gate_sim(doc: Doc) -> None:
    file = "gate_sim.json"
    d = doc.data[file]
    doc.add(
        "## Gate rules on simulated decisions (`gate_sim.py`)",
        "",
        f"{next(iter(d['summary'].values()))['decisions']} gate decisions built from `quality_lab.py`'s runs: natural additions "
        "(the seven collections in six seeded orders; before, a linear router over the live domains; after, one over them plus the",
        "next), the same additions after which 10 / 25 / 50 / 100 % of one earlier domain's queries are sent to another module,",
        "and after which 50 % are sent back to their own module. The gate sees the earlier domains' held-out queries; the truth",
        f"is their test queries (harmful: some earlier domain's test nDCG@10 falls more than {d['threshold']} point). "
        "The product's rule is `shrunk`. " + doc.ran_on(file),
        "",
    )
    rows = [[rule, str(s["benign"]), str(s["harmful"]), f"{s['false_refusals']} ({s['false_refusal_rate']:.1f} %)",
             f"{s['missed_harm']} ({s['missed_harm_rate']:.1f} %)"] for rule, s in d["summary"].items()]
    doc.add(*table(["rule", "harmless", "harmful", "refused though harmless", "passed though harmful"], rows))
    kinds = d["by_kind"]
    rules = [r for r in d["summary"] if r in ("mean", "shrunk", "pooled", "significant")]
    body = [[k, str(v["n"]), str(v["harmful"]), *[str(v[r]) for r in rules]] for k, v in kinds.items()]
    doc.add("Decisions passed, by kind:", "")
    doc.add(*table(["kind", "decisions", "harmful (test)", *[f"passed by {r}" for r in rules]], body))


def recipe_sweep(doc: Doc) -> None:
    file = "recipe_sweep.json"
    d = doc.data[file]
    names = d["order"]
    doc.add(
        "## The domain recipe on all seven collections' held-out queries (`recipe_sweep.py`)",
        "",
        "Each variant trains a fresh module per collection (identity general prefix, cached passages) and is scored on",
        "held-out queries only: dense nDCG@10 of the kept module, and hybrid (BM25 at 0.5). Variants trained against the",
        "BM25-fused score pick their epoch on hybrid held-out nDCG@10. Means count each collection once. " + doc.ran_on(file),
        "",
    )
    n = next(iter(d["variants"].values()))["collections"]
    doc.add("Held-out queries per collection: " + ", ".join(f"{c} {n[c]['n_heldout']}" for c in names) + ".", "")
    rows = []
    for name, v in d["variants"].items():
        cells = [f"{v['collections'][c]['dense']:.1f}@{v['collections'][c]['best_epoch']}" for c in names]
        rows.append([name, *cells, f(v["mean_dense"]), f(v["mean_hybrid0.5"]), f(v["seconds"], 0)])
    doc.add(*table(["variant", *names, "mean dense", "mean hybrid", "seconds"], rows))
    doc.add("Cells: dense held-out nDCG@10 × 100 @ the epoch kept.", "")
