"""The router's sections of ``docs/benchmarks.md``: ``routing_sweep.json`` (top-k's k, the abstain quantile) and
``router_input.json`` (what the router reads). Rendered by ``benchmarks.report.docs``; the helpers are in ``benchmarks.report.format``.
"""

from __future__ import annotations

from benchmarks.report.format import Doc, f, pct, sf, table


def routing_sweep(doc: Doc) -> None:
    file = "routing_sweep.json"
    d = doc.data[file]
    order, prior, gen = d["order"], d["prior_heldout"], d["general_only_heldout"]
    doc.add(
        "## Routing defaults: top-k's k and the abstain quantile",
        "",
        "`python -m benchmarks.sweeps.routing_sweep --cache DIR` trains the seven domain modules once (forced live; deterministic, so",
        "the continual run's modules), then for every stage of the stream (the first k domains live) refits the router at",
        "each abstain quantile and scores every live domain's **held-out** queries under top-1, top-2 and soft routing; and,",
        "leaving each collection out, routes its held-out queries over the other six. "
        f"Run time {f(d['seconds'], 1)} s. " + doc.ran_on(file),
        "",
        "Held-out nDCG@10 × 100 per collection with its own module (prior) and with the general prefix only (here the plain",
        "backbone); held-out query counts are not recorded in the JSON:",
        "",
    )
    rows = [[n, f(gen[n]), f(prior[n]), sf(prior[n] - gen[n])] for n in order]
    rows.append(["**mean**", f(sum(gen.values()) / len(gen)), f(sum(prior.values()) / len(prior)), sf((sum(prior.values()) - sum(gen.values())) / len(prior))])
    doc.add(*table(["collection", "general only", "prior", "gain"], rows))
    doc.add("Summary per configuration (worst drop of any live domain below its prior score, over all stages; final mean with all live;",
            "zero-shot delta against general-only):", "")
    rows = []
    for key, v in d["summary"].items():
        route, q = key.split(" q=")
        rows.append([route, q, f(v["worst_drop_vs_prior_any_stage"]), f(v["final_mean_heldout"]), sf(v["zero_shot_worst_delta"]),
                     sf(v["zero_shot_mean_delta"])])
    doc.add(*table(["routing", "abstain quantile", "worst drop vs prior", f"final mean ({len(order)} live)", "zero-shot worst", "zero-shot mean"], rows, "lrrrrr"))

    configs = list(dict.fromkeys((s["route"], s["abstain_quantile"]) for s in d["stages"]))
    stages = list(dict.fromkeys((s["live"], s["added"]) for s in d["stages"]))
    by = {(s["route"], s["abstain_quantile"], s["live"]): s["heldout"] for s in d["stages"]}
    doc.add("Worst drop below prior at each stage, and the domain it hit (header: number of live domains, +the one just added):", "")
    rows = []
    for route, q in configs:
        cells = []
        for live, _added in stages:
            h = by[(route, q, live)]
            drops = {n: prior[n] - v for n, v in h.items()}
            w = max(drops, key=lambda n: (drops[n], -order.index(n)))
            cells.append(f"{f(drops[w])} {w}")
        rows.append([route, f"{q:g}"] + cells)
    doc.add(*table(["routing", "quantile"] + [f"{live}: +{added}" for live, added in stages], rows, "lr" + "r" * len(stages)))
    early = [s for s in d["stages"] if s["live"] <= 3 and s["abstain_quantile"] < 0.05]
    if early:
        def span(routes):
            xs = [max(prior[n] - v for n, v in s["heldout"].items()) for s in early if s["route"] in routes]
            return f"{f(min(xs))}–{f(max(xs))}"
        doc.add(
            f"At two and three live domains (quantile 0 or 0.02) top-1's worst drop was {span({'topk:1'})} points, top-2's and soft's "
            f"{span({'topk:2', 'soft'})}: a weighted sum of two domains' key/value prefixes is not an ensemble of the two, and mixing",
            "costs where picking one does not. Hence `topk` means top-1 (`topk:K` still chooses K). Abstention trades known",
            "domains for unseen ones: the larger quantile has the mildest zero-shot worst case and the largest drops on known",
            "domains. The drops at later stages fall on collections with small held-out sets, where one misrouted query",
            "moves the score by points.",
            "",
        )
    zs = d["zero_shot"]
    zconf = list(dict.fromkeys((z["route"], z["abstain_quantile"]) for z in zs))
    zby = {(z["left_out"], z["route"], z["abstain_quantile"]): z["delta_vs_general_only"] for z in zs}
    doc.add("Zero-shot: held-out delta against general-only when the collection is left out, per configuration:", "")
    rows = [[n] + [sf(zby[(n, r, q)]) for r, q in zconf] for n in order]
    doc.add(*table(["left out"] + [f"{r} q={q:g}" for r, q in zconf], rows))


def router_input(doc: Doc) -> None:
    file = "router_input.json"
    d = doc.data[file]
    ins = d["inputs"]
    colls = sorted(d["collections"])
    doc.add(
        "## Router input",
        "",
        "`python -m benchmarks.quality.router_input`: a linear router fitted on all collections' train queries, scored on their test",
        "queries, for each input: `tokens` (mean input word embedding, no transformer pass) and `general` (the query",
        "embedding under the general prefix, one extra forward pass). " + doc.ran_on(file),
        "",
    )
    names = sorted(ins)
    rows = [[n, f(ins[n]["ms_per_query"], 3), pct(ins[n]["test_accuracy"], 2), pct(ins[n]["test_accuracy_macro"], 2), f(ins[n]["mean_auroc"], 3)]
            for n in names]
    doc.add(*table(["input", "ms / query", "accuracy %", "macro accuracy %", "mean leave-one-out AUROC"], rows))
    rows = [[c] + [pct(ins[n]["per_collection_accuracy"][c]) for n in names] for c in colls]
    doc.add("Accuracy per collection (test queries, %):", "")
    doc.add(*table(["collection"] + names, rows))
    doc.add("*n*: `router_input.json` does not record query counts (neither per collection nor in total).", "")
    doc.add(
        "Abstention, leaving each collection out in turn: the router is fitted on the others, and its threshold is a quantile",
        "of its training queries' best-domain probability. *unseen* = share of the left-out collection's test queries it",
        "abstains on (wanted), *known* = share of the other collections' test queries (not wanted); AUROC of the confidence",
        "for telling the two apart.",
        "",
    )
    for n in names:
        loo = ins[n]["leave_one_out_abstention"]
        qs = sorted({k for v in loo.values() for k in v if k.startswith("q")}, key=lambda k: float(k[1:]))
        rows = [[c, f(loo[c]["auroc"], 3)] + [f"{pct(loo[c][q]['unseen_abstained'])} / {pct(loo[c][q]['known_abstained'])}" for q in qs]
                for c in colls]
        means = [f"mean_abstained_{q}" for q in qs]
        rows.append(["**mean**", f(ins[n]["mean_auroc"], 3)]
                    + [f"{pct(ins[n][m]['unseen'])} / {pct(ins[n][m]['known'])}" if m in ins[n] else "–" for m in means])
        doc.add(f"Input `{n}` (abstained %, unseen / known, by quantile):", "")
        doc.add(*table(["left out", "AUROC"] + [f"quantile {q[1:]}" for q in qs], rows))
