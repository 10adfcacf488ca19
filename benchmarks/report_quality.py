"""The quality sections of ``docs/benchmarks.md``: routers and fusion (``quality_lab.json``), the gate
rules (``gate_sim.json``) and the domain recipe (``recipe_sweep.json``). Loaded by report_docs.py."""

from __future__ import annotations

from report_common import Doc, f, table

LAB_ROWS = ("oracle-prior", "none", "provenance", "utility-linear", "knn", "knn+margin0.02", "knn+margin0.05", "knn+margin0.1", "knn+sim20%")


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
