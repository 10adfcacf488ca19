"""The current continual run's section of ``docs/benchmarks.md``: ``continual.json`` (version 2: dense and hybrid,
the knn utility router, the gate over per-query differences, n everywhere). Loaded by ``benchmarks/report_docs.py``."""

from __future__ import annotations

from report_common import Doc, f, minutes, table

FILE = "continual.json"


def _intro(doc: Doc, out: dict) -> None:
    s, g, d = out["settings"], out["settings"]["general"], out["settings"]["domain"]
    names = out["order"]
    doc.add(
        "## The seven-domain continual benchmark",
        "",
        f"`benchmarks/continual.py` adds {len(names)} collections one after another ({', '.join(names)}) to one SQLite registry",
        "in a temp dir through the library calls the CLI makes, the product's gate included, with the default backbone",
        "(all-MiniLM-L6-v2): BM25 and the plain backbone, each alone and fused (what a search engine offers without ddr);",
        "then `train-general` on the union of the train splits; then `add-domain` per collection, after each of which every",
        "collection added so far is scored on its test split (the forgetting matrices); then the final table, a full",
        "fine-tune of a copy of the query encoder per collection (the reference, alone and fused) and a leave-one-out",
        "zero-shot pass. Hybrid rows fuse BM25 (bm25s, stemmed) with the dense side: " + s["fusion"] + ".",
        "",
        f"Command: `{out['command']}`. {doc.ran_on(FILE)} Encoding in **{s['dtype']}** "
        f"({'chosen because the machine has bf16 units' if s['dtype'] == 'bfloat16' else 'fp32: no bf16 units found'}; training stays fp32). Total wall time **{minutes(out['total_seconds'])}** (cold: no cache seeded) for "
        f"{out['passages_in_collections']:,} passages.",
        "",
        f"Settings: domain trainer P={d['prefix_length']}, lr {d['lr']:g}, up to {d['epochs']} epochs (patience {d['patience']}), "
        f"batch {d['batch_size']}, temperature {d['temperature']:g}; router `{out['router_test']['kind']}`; general trainer "
        f"P={g['prefix_length']}, lr {g['lr']:g}, {g['epochs']} epoch(s), {g['per_collection']} triples per collection "
        f"(balanced), up to {g['title_pairs']} title → text pairs per collection; query-encoder fine-tune lr {s['ft_lr']:g}, "
        f"{s['ft_epochs']} epochs (best on held-out kept).",
        "",
    )


def _final(doc: Doc, out: dict) -> None:
    names, n, tab, avg = out["order"], out["n"], out["table"], out["average"]
    doc.add("### Final table (test nDCG@10 × 100; n = test queries)", "")
    rows = [[s] + [f(tab[c][s]) for c in names] + [f"**{f(avg[s])}**"] for s in avg]
    doc.add(*table(["system"] + [f"{c} (n={n[c]['test']})" for c in names] + ["**average**"], rows))
    doc.add("`BM25 + DDR-topk (learned weights)` fuses with each routed domain's own lexical weight (shrunk toward 0.5 by",
            "its held-out size); the plain `BM25 + DDR-topk` row uses 0.5 for every query.", "")


def _general(doc: Doc, out: dict) -> None:
    g = out["general"]
    verdict = "activated" if g["activated"] else "refused: " + "; ".join(g["reasons"])
    doc.add(f"### The general phase ({g['steps']} steps): {verdict}", "")
    rows = [[r["collection"], str(r["n"]), f(r["before"]), f(r["after"]), f"{r['delta']:+.2f}"] for r in g["heldout"]]
    doc.add(*table(["collection", "n held-out", "plain", "with the general prefix", "delta"], rows))


def _gates(doc: Doc, out: dict) -> None:
    doc.add("### Gate decisions", "",
            "Held-out nDCG@10 × 100 on every live domain, n held-out queries, the delta and its 90 % interval (per-query paired",
            "differences); the rule is the product's default (`shrunk`).", "")
    rows = []
    for a in out["additions"]:
        verdict = "activated" if a["activated"] else "refused: " + "; ".join(a["reasons"])
        for r in a["gate_rows"]:
            ci = f"[{r['interval90'][0]:+.2f}, {r['interval90'][1]:+.2f}]" if r["interval90"] else ""
            before = "" if r["before"] is None else f(r["before"])
            rows.append([f"+{a['domain']}", r["domain"], str(r["n"]), before, f(r["after"]), f"{r['delta']:+.2f}", ci,
                         verdict if r["domain"] == a["domain"] else ""])
    doc.add(*table(["step", "domain", "n", "before", "after", "delta", "90 % interval", "verdict"], rows))


def _forgetting(doc: Doc, out: dict) -> None:
    names = out["order"]
    for kind in ("topk", "hybrid topk"):
        rows = [[a["domain"] + ("" if a["activated"] else " (refused)")] + [f(row[c]) if c in row else "" for c in names]
                for a, row in zip(out["additions"], out["forgetting_matrix"][kind])]
        doc.add(f"### Forgetting, {kind} (test nDCG@10 × 100; row = after adding that domain)", "")
        doc.add(*table(["after adding"] + names, rows))
    doc.add("The prior matrix is in [`benchmarks/results/continual.md`](../benchmarks/results/continual.md).", "")


def _router_and_zero_shot(doc: Doc, out: dict) -> None:
    rt = out["router_test"]
    doc.add(f"### Routing on the test queries (router `{rt['kind']}`)", "",
            f"{rt['own_pct']} % of {rt['queries']} test queries went to their own collection's module, {rt['abstained_pct']} % to none.", "")
    rows = [[c, str(p["n"]), f(p["own_pct"], 1), f(p["abstained_pct"], 1), f"{p['topk_minus_prior']:+.2f}"] for c, p in rt["per_collection"].items()]
    doc.add(*table(["collection", "n", "own module %", "abstained %", "DDR-topk − DDR-prior"], rows))
    doc.add("### Leave-one-out zero-shot (top-k over the other six domains, as if the collection were never added)", "")
    rows = [[c, str(z["n"]), f(z["plain"]), f(z["DDR-topk (never added)"]), f"{z['delta_vs_plain']:+.2f}", f(z["BM25 + plain"]),
             f(z["BM25 + DDR-topk (never added)"]), f"{z['hybrid_delta_vs_plain']:+.2f}", f(z["abstained_pct"], 0)] for c, z in out["zero_shot"].items()]
    doc.add(*table(["collection", "n", "plain", "DDR-topk", "delta", "BM25 + plain", "BM25 + DDR-topk", "delta", "abstained %"], rows))


def _finetune(doc: Doc, out: dict) -> None:
    doc.add("### Against the query-encoder fine-tune, split by whether a test query's relevant documents were training positives", "")
    rows = [[c, g, str(v["n"]), f(v["plain"]), f(v["DDR-topk"]), f(v["fine-tune"]), f(v["BM25 + DDR-topk"]), f(v["BM25 + fine-tune"])]
            for c, groups in out["finetune_split"].items() for g, v in groups.items()]
    doc.add(*table(["collection", "group", "n", "plain", "DDR-topk", "fine-tune", "BM25 + DDR-topk", "BM25 + fine-tune"], rows))


def _costs_and_targets(doc: Doc, out: dict, report) -> None:
    doc.add("### Time and passages encoded per phase", "")
    doc.add(*table(["phase", "seconds", "passages encoded"], [[p, f(v["seconds"], 0), f"{v['passages_encoded']:,}"] for p, v in out["phases"].items()]))
    checks = report.checks(out)
    doc.add("### Targets (quality issue), as this run met them", "")
    rows = [[k, "" if "value" not in v else str(v["value"]), "" if "target" not in v else str(v["target"]), "yes" if v["met"] else "**no**"]
            for k, v in checks.items()]
    doc.add(*table(["target", "value", "target value", "met"], rows))


def continual_v2(doc: Doc, report) -> None:
    """The current run; ``report`` is ``benchmarks/continual_report.py`` (its ``checks()``)."""
    out = doc.data[FILE]
    _intro(doc, out)
    _final(doc, out)
    _general(doc, out)
    _gates(doc, out)
    _forgetting(doc, out)
    _router_and_zero_shot(doc, out)
    _finetune(doc, out)
    _costs_and_targets(doc, out, report)
