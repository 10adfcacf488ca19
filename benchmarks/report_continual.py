"""The continual benchmark's sections of ``docs/benchmarks.md``: ``continual.json`` (the current run), ``continual_v1.json`` (the first recipe) and ``continual_top2_cold.json``.

Loaded by ``benchmarks/report_docs.py``, which renders the whole document (see its docstring); the helpers are in
``report_common.py``. ``report`` below is ``benchmarks/continual_report.py``, whose ``checks()`` the targets table re-runs.
"""

from __future__ import annotations

import re

from report_common import Doc, f, minutes, sf, table


def continual_n_note(doc: Doc, file: str, short: bool = False) -> str:
    d = doc.data[file]
    if short:
        return (f"*n*: not recorded per collection in `{file}` ({d['router_test']['queries']} test queries in all; "
                "see the note under the final table).")
    extra = []
    ad, ql = doc.data.get("add_domain.json"), doc.data.get("query_latency.json")
    if ad:
        extra.append(f"{ad['collection']} {ad['test_ndcg@10']['plain']['all_queries']} (`add_domain.json`)")
    if ql:
        extra.append(f"{ql['collection']} {ql['latency']['queries']} (`query_latency.json`)")
    note = (f"*n*: `{file}` does not record the number of test queries per collection; its router evaluation counted "
            f"{d['router_test']['queries']} test queries over all {len(d['order'])} collections (`router_test.queries`).")
    if extra:
        note += " Two other results files record the same test split's judged queries: " + ", ".join(extra) + "."
    return note


def targets(doc: Doc, out: dict, report) -> None:
    described = {
        "prior_vs_plain_plus_3": ("DDR-prior average − plain average", ">=", 2),
        "prior_vs_best_bm25": ("DDR-prior average − the better BM25 average", ">=", 2),
        "topk_within_1_of_prior": ("DDR-topk average − DDR-prior average", ">=", 2),
        "router_accuracy": ("router accuracy on all collections' test queries, %", ">=", 1),
        "prior_forgetting_exactly_zero": ("every earlier collection's prior score unchanged after every addition", "", 2),
        "topk_worst_drop": ("largest top-k drop of a collection below its own earlier score", "<=", 2),
        "zero_shot_worst_delta": ("worst leave-one-out zero-shot delta vs plain", ">=", 2),
        "prior_vs_finetune": ("DDR-prior average − query-encoder fine-tune average", ">=", 2),
        "per_domain_params_pct": ("parameters per domain module, % of the backbone", "<=", 3),
        "no_earlier_passage_reencoded": ("no add-domain encoded any passage", "", 2),
    }
    rows = []
    for key in sorted(out["checks"], key=lambda k: list(described).index(k) if k in described else len(described)):
        c = out["checks"][key]
        what, cmp, nd = described.get(key, (key, "", 2))
        target = f"{cmp} {f(c['target'], nd)}" if "target" in c else "–"
        rows.append([f"`{key}`", what, f(c.get("value"), nd) if "value" in c else "–", target, "met" if c["met"] else "**missed**"])
    doc.add(*table(["check", "what", "value", "target", "result"], rows, "llrrl"))
    if report.checks(out) != out["checks"]:
        doc.add("Note: recomputing the checks with `continual_report.checks()` does not give the stored values; rerun the benchmark.", "")


def threshold(additions: list[dict]) -> str:
    """The gate's threshold as its refusal messages state it ('dropped 0.51 points (> 0.5)')."""
    found = sorted({m.group(1) for a in additions for r in a["reasons"] for m in [re.search(r"\(> ([0-9.]+)\)", r)] if m})
    return f" with a {found[0]}-point threshold" if len(found) == 1 else ""


def continual_intro(doc: Doc, file: str) -> None:
    """What the benchmark does, the run's command, machine and settings, and the final table."""
    out = doc.data[file]
    names, s = out["order"], out["settings"]
    avg, tab = out["average"], out["table"]
    systems = list(avg)
    doc.add(
        "## The seven-domain continual benchmark, first recipe (`continual_v1.json`)",
        "",
        f"`benchmarks/continual.py` adds {len(names)} collections one after another ({', '.join(names)}) through the library",
        "calls the CLI makes, gates on, into one SQLite registry in a temp dir, with the default backbone",
        "(all-MiniLM-L6-v2). First BM25 (bm25s, with and without the Snowball stemmer) and the plain backbone;",
        "then `train-general` on the union of the train splits; then `add-domain` per collection, after each of",
        "which every collection added so far is scored on its test split under prior, top-k and soft routing;",
        "then a full fine-tune of a copy of the query encoder per collection (the reference) and a leave-one-out",
        "zero-shot pass. Every call of `DDREncoder.encode_passages` is counted, so \"adding a domain encodes no",
        "earlier passage\" is measured, not assumed.",
        "",
        f"This is the first recipe's run (`{file}`: linear provenance router, top-1; mean-delta gate; 10 epochs, patience 3). Command: `{out['command']}`"
        + (" — the embedding cache was seeded from the cold run below (same cache keys, so identical embeddings)." if out.get("cache_seeded") else "."),
        f"Total wall time {minutes(out['total_seconds'])} for {out['passages_in_collections']:,} passages in the collections.",
        doc.ran_on(file),
        "",
        f"Settings recorded: encoding in {s['dtype']}, passages cut at {s['passage_max_length']} tokens; domain trainer "
        f"P={s['domain']['prefix_length']}, lr {s['domain']['lr']:g}, up to {s['domain']['epochs']} epochs (patience "
        f"{s['domain']['patience']}), batch {s['domain']['batch_size']}, temperature {s['domain']['temperature']:g}; general trainer "
        f"P={s['general']['prefix_length']}, lr {s['general']['lr']:g}, {s['general']['epochs']} epoch(s), batch {s['general']['batch_size']}, "
        f"hard negatives mined from ranks {s['general']['mine_from']}–{s['general']['mine_to']}; query-encoder fine-tune lr "
        f"{s['ft_lr']:g}, {s['ft_epochs']} epochs (best epoch on held-out kept).",
        "",
        "### Final table (test nDCG@10 × 100)",
        "",
    )
    rows = [[sys_] + [f(tab[n][sys_]) for n in names] + [f"**{f(avg[sys_])}**"] for sys_ in systems]
    doc.add(*table(["system"] + names + ["**average**"], rows))
    doc.add(continual_n_note(doc, file), "")


def continual_gates(doc: Doc, file: str) -> None:
    """The general phase and the add-domain gate: what went live, what was refused and why."""
    out = doc.data[file]
    tab = out["table"]
    g = out["general"]
    doc.add(
        "### Gates",
        "",
        f"**General prefix.** `train-general` ran {g['steps']} steps; its candidate "
        + ("went live." if g["activated"] else "was refused by its own gate (" + "; ".join(g["reasons"]) + "), so the domains trained on the "
           "plain backbone (the identity general prefix), as the product does.")
        + " Held-out nDCG@10 × 100 per collection, live general prefix (before) vs candidate (after); held-out query counts are "
        "not recorded in the JSON:",
        "",
    )
    rows = [[r["collection"], f(r["before"]), f(r["after"]), sf(r["delta"])] for r in g["heldout"]]
    doc.add(*table(["collection", "before", "after", "delta"], rows))
    live = [a["domain"] for a in out["additions"] if a["activated"]]
    refused = [a for a in out["additions"] if not a["activated"]]
    doc.add(
        f"**add-domain.** {len(live)} of {len(out['additions'])} additions went live ({', '.join(live)}); the gate refused "
        f"{len(refused)}" + (": " + "; ".join(f"{a['domain']} ({'; '.join(a['reasons'])})" for a in refused) if refused else "") + ".",
        f"The gate compares held-out scores under top-k routing{threshold(out['additions'])}; on collections with few",
        "held-out queries one misrouted query moves the score by more than that (the held-out set sizes are not",
        "recorded in the JSON).",
        "",
    )
    rows = [[a["domain"], "yes" if a["activated"] else "**refused**", str(a["best_epoch"]), f(a["heldout_curve"][0]),
             f(max(a["heldout_curve"])), f(a["seconds"], 1), str(a["passages_encoded"]), ", ".join(a["live"])] for a in out["additions"]]
    doc.add(*table(["added", "live?", "best epoch", "held-out, epoch 0 (untrained)", "held-out, best epoch", "seconds", "passages encoded", "live after"],
                   rows, "llrrrrrl"))
    if refused:
        rt = out["router_test"]["per_collection"]
        doc.add(
            "A refused collection is served as production would serve it: `prior` gets the general prefix only (here the",
            "plain backbone, since the general candidate was refused), `top-k` and `soft` get whatever the live router",
            "picks. That is where DDR-topk and DDR-prior part on those collections:",
            "",
        )
        rows = [[a["domain"], f(tab[a["domain"]]["plain"]), f(tab[a["domain"]]["DDR-prior"]), f(tab[a["domain"]]["DDR-topk"]),
                 f(rt[a["domain"]]["abstained"], 1) if a["domain"] in rt else "–"] for a in refused]
        doc.add(*table(["refused collection", "plain", "DDR-prior", "DDR-topk", "router abstained, % of its test queries"], rows))


def continual_forgetting(doc: Doc, file: str) -> None:
    """Every collection's score after each addition, and the largest top-k drops."""
    out = doc.data[file]
    names = out["order"]
    prior = out["forgetting_matrix"]["prior"]
    unchanged = all(prior[k][n] == prior[k - 1][n] for k in range(1, len(prior)) for n in prior[k - 1])
    doc.add(
        "### Forgetting",
        "",
        "Test nDCG@10 × 100 of every collection added so far, after each addition (row), under top-k routing.",
        "Under `prior` routing " + ("every earlier collection's score stayed the same to the last recorded digit after every addition."
                                     if unchanged else "some earlier collection's score changed (see `results/continual_v1.md`)."),
        "",
    )
    topk = out["forgetting_matrix"]["topk"]
    rows = [[a["domain"] + ("" if a["activated"] else " (refused)")] + [f(row[n]) if n in row else "" for n in names]
            for a, row in zip(out["additions"], topk)]
    doc.add(*table(["after adding"] + names, rows))
    drops = []
    for j, n in enumerate(names):
        col = [topk[k][n] for k in range(j, len(topk))]
        worst, peak = 0.0, col[0]
        for v in col:
            peak = max(peak, v)
            worst = max(worst, peak - v)
        if worst > 0:
            drops.append((-round(worst, 2), n, peak, col[-1]))
    drops.sort()
    if drops:
        doc.add("Largest top-k drops below a collection's own earlier score: "
                + "; ".join(f"{n} {f(-d)} ({f(p)} → {f(last)} at the end)" for d, n, p, last in drops[:3])
                + f". The target was at most {f(out['checks']['topk_worst_drop']['target'])}.", "")
    doc.add("The prior and soft matrices are in [`benchmarks/results/continual_v1.md`](../benchmarks/results/continual_v1.md) "
            "(`python benchmarks/continual_report.py benchmarks/results/continual_v1.json` re-renders it and the plots).", "")


def continual_router(doc: Doc, file: str) -> None:
    """The router's accuracy and abstention on all test queries."""
    out = doc.data[file]
    names = out["order"]
    rt = out["router_test"]
    router_live = set(out["additions"][-1]["live"])
    doc.add(
        "### Router",
        "",
        f"On all test queries the router picked the right collection for {f(rt['accuracy'], 1)} % ({rt['correct']} of {rt['queries']}; "
        f"the refused collections have no class, so every one of their queries counts as wrong) and for "
        f"{f(rt['accuracy_live_domains'], 1)} % of the live domains' queries; it abstained on {f(rt['abstained_pct'], 1)} %.",
        "",
    )
    rows = [[n, "yes" if n in router_live else "no", f(rt["per_collection"][n]["accuracy"], 1), f(rt["per_collection"][n]["abstained"], 1)]
            for n in names if n in rt["per_collection"]]
    doc.add(*table(["collection", "live", "accuracy %", "abstained %"], rows, "llrr"))
    doc.add(continual_n_note(doc, file, short=True), "")


def continual_zero_shot(doc: Doc, file: str) -> None:
    """Each collection routed over the others, left out of the router."""
    out = doc.data[file]
    names = out["order"]
    zs = out["zero_shot"]
    doc.add(
        "### Zero-shot (leave one out)",
        "",
        "Each collection's test queries routed top-k over the other live domains, with the router refit without it,",
        "against the plain backbone:",
        "",
    )
    rows = [[n, f(zs[n]["plain"]), f(zs[n]["DDR-topk (never added)"]), sf(zs[n]["delta_vs_plain"]), f(zs[n]["abstained_pct"], 1)]
            for n in names if n in zs]
    doc.add(*table(["collection", "plain", "DDR-topk (never added)", "delta", "abstained %"], rows))
    doc.add(continual_n_note(doc, file, short=True), "")


def continual_costs(doc: Doc, file: str, report) -> None:
    """Parameter counts, time per phase (beside the cold run's) and the targets."""
    out = doc.data[file]
    p = out["parameters"]
    per = sorted(set(p["per_domain"].values()))
    doc.add(
        "### Parameters, time, targets",
        "",
        f"A domain module has {', '.join(f'{x:,}' for x in per)} parameters ({f(p['per_domain_pct_of_backbone'], 3)} % of the "
        f"{p['backbone']:,}-parameter backbone); the router {p['router']:,}; everything trainable together {p['total_trainable']:,} "
        f"({f(p['total_pct_of_backbone'], 3)} %).",
        "",
    )
    cold = doc.data.get("continual_top2_cold.json")
    phases = list(out["phases"])
    if cold:
        rows = [[ph, f(out["phases"][ph]["seconds"], 1), str(out["phases"][ph]["passages_encoded"]),
                 f(cold["phases"][ph]["seconds"], 1) if ph in cold["phases"] else "–",
                 str(cold["phases"][ph]["passages_encoded"]) if ph in cold["phases"] else "–"] for ph in phases]
        rows.append(["**total**", f"**{f(out['total_seconds'], 1)}**", f"**{sum(v['passages_encoded'] for v in out['phases'].values())}**",
                     f"**{f(cold['total_seconds'], 1)}**", f"**{sum(v['passages_encoded'] for v in cold['phases'].values())}**"])
        doc.add(*table(["phase", "seconds (this run)", "passages encoded", "seconds (cold run)", "passages encoded (cold)"], rows))
    else:
        rows = [[ph, f(out["phases"][ph]["seconds"], 1), str(out["phases"][ph]["passages_encoded"])] for ph in phases]
        doc.add(*table(["phase", "seconds", "passages encoded"], rows))
    doc.add("Targets, as the run evaluated them (`continual_report.checks()`):", "")
    targets(doc, out, report)


def continual(doc: Doc, report) -> None:
    """The first recipe's continual run, ``continual_v1.json``; ``report`` is ``benchmarks/continual_report.py``."""
    file = "continual_v1.json"
    continual_intro(doc, file)
    continual_gates(doc, file)
    continual_forgetting(doc, file)
    continual_router(doc, file)
    continual_zero_shot(doc, file)
    continual_costs(doc, file, report)


def continual_cold(doc: Doc) -> None:
    file = "continual_top2_cold.json"
    cold, cur = doc.data[file], doc.data.get("continual_v1.json")
    live = [a["domain"] for a in cold["additions"] if a["activated"]]
    refused = [a for a in cold["additions"] if not a["activated"]]
    enc = sum(v["passages_encoded"] for v in cold["phases"].values())
    doc.add(
        "### The first, cold run (top-2)",
        "",
        f"`{file}`: the same benchmark, run first, with an empty embedding cache (`{cold['command']}`), when `topk` still meant",
        "the router's two best domains. The JSON does not record k (its settings are the trainer's); the file name says",
        "top-2, the default until the routing sweep below. " + doc.ran_on(file),
        "",
        f"It took {minutes(cold['total_seconds'])} and encoded {enc:,} passages, all of them in two phases (the plain backbone and the",
        "general candidate); no add-domain encoded any. "
        f"The gate let {len(live)} of {len(cold['additions'])} additions go live ({', '.join(live)}) and refused {len(refused)}:",
        "",
    )
    rows = [[a["domain"], "; ".join(a["reasons"])] for a in refused]
    doc.add(*table(["refused", "gate's reason (held-out)"], rows, "ll"))
    doc.add(
        "With one live domain the router cannot abstain or misroute; with two, top-2 over two domains is the whole",
        "distribution, so every scifact query was mixed with the other module. The routing sweep below measured this",
        "on held-out queries, and top-k became top-1. Averages of the two runs (test nDCG@10 × 100):",
        "",
    )
    systems = list(cold["average"])
    rows = [[s_, f(cold["average"][s_]), f(cur["average"][s_]) if cur and s_ in cur["average"] else "–"] for s_ in systems]
    doc.add(*table(["system", "cold run, top-2", "current run, top-1"], rows))
    doc.add("Per collection, the cold run's tables are in "
            "[`benchmarks/results/continual_top2_cold.md`](../benchmarks/results/continual_top2_cold.md).", "",
            continual_n_note(doc, file, short=True), "")
