"""The current continual results schema (``version`` 2: dense and hybrid, the knn utility router, the gate over
per-query differences, n everywhere), rendered from its JSON: the target checks, the run's own Markdown and
plots, and its section of ``docs/benchmarks.md``.

    python -m benchmarks.report.continual [benchmarks/results/continual.json]          # rewrite its .md and PNGs
    python -m benchmarks.report.continual --check [benchmarks/results/continual.json]  # exit 1 if the .md is stale

``benchmarks.quality.continual`` calls :func:`checks`, :func:`markdown` and :func:`plots` when a run ends, so a
results file can be re-rendered later without rerunning anything. The first schema (``continual_v1.json``,
``continual_top2_cold.json``) is no longer rendered: its docs section is frozen in
``benchmarks/results/frozen/continual_v1.md`` and its tables in ``results/continual_v1.md`` and
``results/continual_top2_cold.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchmarks.common import RESULTS
from benchmarks.report.format import Doc, f, minutes, runnable, table

FILE = "continual.json"
VERSION = 2
BAR_SYSTEMS = ("BM25", "plain", "BM25 + plain", "DDR-prior", "DDR-topk", "BM25 + DDR-topk", "query-encoder fine-tune", "BM25 + fine-tune")


def _current(out: dict) -> None:
    if out.get("version") != VERSION:
        raise ValueError(f"continual results schema version {out.get('version')!r}: this renderer reads version {VERSION} "
                         "(the first schema is frozen in benchmarks/results/frozen/)")


# --- the targets ------------------------------------------------------------------------------------


def _worst_drop(rows: list[dict], names: list[str]) -> float:
    """The largest fall of any collection's score below its best earlier value over the stream."""
    drops = [max(rows[j][n] for j in range(names.index(n), k)) - rows[k][n] for k in range(1, len(rows)) for n in names[:k]]
    return max(drops or [0.0])


def checks(out: dict) -> dict:
    """The targets (the quality issue's), evaluated on this run's figures; the run stores them as ``checks``."""
    _current(out)
    avg, names, t = out["average"], out["order"], out["table"]
    baselines = ("BM25", "plain", "BM25 + plain", "query-encoder fine-tune", "BM25 + fine-tune")
    beats = sum(t[n]["BM25 + DDR-topk"] >= max(t[n][b] for b in baselines) for n in names)
    prior = out["forgetting_matrix"]["prior"]
    prior_unchanged = all(prior[k][n] == prior[k - 1][n] for k in range(1, len(prior)) for n in prior[k - 1])
    worst = _worst_drop(out["forgetting_matrix"]["topk"], names)
    per = out["router_test"]["per_collection"]
    zs = out["zero_shot"].values()
    zs_dense = min((z["delta_vs_plain"] for z in zs), default=0.0)
    zs_hybrid = min((z["hybrid_delta_vs_plain"] for z in zs), default=0.0)
    hybrid_gain = round(avg["BM25 + DDR-topk"] - avg["BM25 + plain"], 2)
    live = len(out["additions"][-1]["live"]) if out["additions"] else 0
    minutes = round(out["total_seconds"] / 60, 1)
    return {
        "hybrid_topk_vs_bm25_plus_plain_plus_2": {"value": hybrid_gain, "target": 2.0, "met": hybrid_gain >= 2.0},
        "hybrid_topk_vs_bm25_plus_plain_plus_3 (moonshot)": {"value": hybrid_gain, "target": 3.0, "met": hybrid_gain >= 3.0},
        "hybrid_topk_beats_every_baseline_on_6_of_7": {"value": beats, "target": 6, "met": beats >= 6},
        "dense_topk_vs_bm25": {"value": round(avg["DDR-topk"] - avg["BM25"], 2), "target": 0.0, "met": avg["DDR-topk"] >= avg["BM25"]},
        "dense_topk_vs_finetune (moonshot)": {"value": round(avg["DDR-topk"] - avg["query-encoder fine-tune"], 2), "target": 0.0,
                                               "met": avg["DDR-topk"] >= avg["query-encoder fine-tune"]},
        "domains_live": {"value": live, "target": len(names), "met": live == len(names)},
        "topk_within_0.3_of_prior": {"value": round(avg["DDR-topk"] - avg["DDR-prior"], 2), "target": -0.3, "met": avg["DDR-topk"] >= avg["DDR-prior"] - 0.3},
        "topk_worst_forgetting": {"value": round(worst, 2), "target": 0.5, "met": worst <= 0.5},
        "prior_forgetting_exactly_zero": {"met": prior_unchanged},
        "router_own_collection_pct": {"value": out["router_test"]["own_pct"], "target": 95.0, "met": out["router_test"]["own_pct"] >= 95},
        "utility_router_topk_within_0.3_of_prior_per_collection": {
            "value": min(p["topk_minus_prior"] for p in per.values()), "target": -0.3, "met": all(p["topk_minus_prior"] >= -0.3 for p in per.values()),
        },
        "zero_shot_dense_worst_vs_plain": {"value": zs_dense, "target": -0.5, "met": zs_dense >= -0.5},
        "zero_shot_hybrid_worst_vs_bm25_plus_plain": {"value": zs_hybrid, "target": -0.5, "met": zs_hybrid >= -0.5},
        "cold_run_minutes": {"value": minutes, "target": 60, "met": out["cache_seeded"] or minutes < 60},
        "no_earlier_passage_reencoded": {"met": all(a["passages_encoded"] == 0 for a in out["additions"])},
    }


# --- the run's own Markdown and plots ---------------------------------------------------------------


def markdown(out: dict) -> str:
    """The run's own Markdown (``results/<stem>.md``): every table of the JSON, with n."""
    _current(out)
    names = out["order"]
    n = out["n"]
    lines = [f"Test nDCG@10 x 100 (n = test queries); encoding {out['settings']['dtype']}, fusion: {out['settings']['fusion']}.", "",
             "| system | " + " | ".join(f"{c} (n={n[c]['test']})" for c in names) + " | **average** |", "|---|" + "---:|" * (len(names) + 1)]
    for s in out["average"]:
        lines.append(f"| {s} | " + " | ".join(f"{out['table'][c][s]:.1f}" for c in names) + f" | **{out['average'][s]:.1f}** |")
    lines += ["", "Gate decisions (held-out nDCG@10 x 100, n held-out queries, delta and its 90% interval):", ""]
    for a in out["additions"]:
        state = "activated" if a["activated"] else "refused: " + "; ".join(a["reasons"])
        cells = ", ".join(f"{r['domain']} n={r['n']} {r['delta']:+.2f}" + (f" [{r['interval90'][0]:+.2f}, {r['interval90'][1]:+.2f}]" if r["interval90"] else "")
                          for r in a["gate_rows"] if r["before"] is not None)
        lines.append(f"- +{a['domain']}: {state} ({cells})")
    for r, rows in out["forgetting_matrix"].items():
        lines += ["", f"**{r}** (row = after adding that domain)", "", "| after adding | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for a, row in zip(out["additions"], rows):
            lines.append(f"| {a['domain']}{'' if a['activated'] else ' (refused)'} | " + " | ".join(f"{row[c]:.1f}" if c in row else "" for c in names) + " |")
    lines += ["", "Leave-one-out zero-shot (top-k over the other domains, as if never added):", "",
              "| collection | n | plain | DDR-topk | delta | BM25 + plain | BM25 + DDR-topk | delta | abstained % |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c, z in out["zero_shot"].items():
        lines.append(f"| {c} | {z['n']} | {z['plain']:.1f} | {z['DDR-topk (never added)']:.1f} | {z['delta_vs_plain']:+.1f} | {z['BM25 + plain']:.1f} | "
                     f"{z['BM25 + DDR-topk (never added)']:.1f} | {z['hybrid_delta_vs_plain']:+.1f} | {z['abstained_pct']:.0f} |")
    lines += ["", "Fine-tune comparison split (test queries whose relevant documents were training positives, and the others):", "",
              "| collection | group | n | plain | DDR-topk | fine-tune | BM25 + DDR-topk | BM25 + fine-tune |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for c, groups in out["finetune_split"].items():
        for g, v in groups.items():
            lines.append(f"| {c} | {g} | {v['n']} | {v['plain']:.1f} | {v['DDR-topk']:.1f} | {v['fine-tune']:.1f} | {v['BM25 + DDR-topk']:.1f} | {v['BM25 + fine-tune']:.1f} |")
    lines += ["", "| phase | seconds | passages encoded |", "|---|---:|---:|"]
    lines += [f"| {p} | {v['seconds']:.0f} | {v['passages_encoded']} |" for p, v in out["phases"].items()]
    rt = out["router_test"]
    summary = (f"Total {out['total_seconds'] / 60:.1f} min. Router ({rt['kind']}): {rt['own_pct']}% of test queries to their own collection's "
               f"module, {rt['abstained_pct']}% to none.")
    lines += ["", summary, "", "| target | value | met |", "|---|---:|---|"]
    lines += [f"| {k} | {v.get('value', '')} | {'yes' if v['met'] else '**no**'} |" for k, v in out["checks"].items()]
    return "\n".join(lines) + "\n"


def plots(out: dict, matrix_path: Path, bars_path: Path) -> None:
    """The top-k forgetting matrix (colour: points against plain) and the final table as bars."""
    _current(out)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plots (pip install 'ddr[plot]')")
        return
    import numpy as np

    names = out["order"]
    rows = out["forgetting_matrix"]["topk"]
    systems = [s for s in out["average"] if s in BAR_SYSTEMS]
    m = np.full((len(rows), len(names)), np.nan)
    for i, row in enumerate(rows):
        for j, n in enumerate(names):
            if n in row:
                m[i, j] = row[n] - out["table"][n]["plain"]
    fig, ax = plt.subplots(figsize=(8, 5))
    lim = np.nanmax(np.abs(m)) if np.isfinite(m).any() else 1
    im = ax.imshow(m, cmap="RdBu", vmin=-lim, vmax=lim)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{rows[i][names[j]]:.1f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30)
    ax.set_yticks(range(len(rows)), [f"+{a['domain']}" for a in out["additions"]])
    ax.set_title("top-k routing: test nDCG@10 after each addition (colour: vs plain)")
    fig.colorbar(im, ax=ax, label="points vs plain backbone")
    fig.tight_layout()
    fig.savefig(matrix_path, dpi=110)
    plt.close(fig)

    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(13, 4.5))
    for i, s in enumerate(systems):
        ys = [out["table"][n][s] for n in names] + [out["average"][s]]
        ax.bar([x + i * width for x in range(len(names) + 1)], ys, width, label=s)
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(names) + 1)], names + ["average"])
    ax.set_ylabel("test nDCG@10 x 100")
    ax.legend(fontsize=7, ncol=4)
    fig.tight_layout()
    fig.savefig(bars_path, dpi=110)
    plt.close(fig)


# --- the section of docs/benchmarks.md ---------------------------------------------------------------


def _intro(doc: Doc, out: dict) -> None:
    s, g, d = out["settings"], out["settings"]["general"], out["settings"]["domain"]
    names = out["order"]
    doc.add(
        "## The seven-domain continual benchmark",
        "",
        f"`benchmarks/quality/continual.py` adds {len(names)} collections one after another ({', '.join(names)}) to one SQLite registry",
        "in a temp dir through the library calls the CLI makes, the product's gate included, with the default backbone",
        "(all-MiniLM-L6-v2): BM25 and the plain backbone, each alone and fused (what a search engine offers without ddr);",
        "then `train-general` on the union of the train splits; then `add-domain` per collection, after each of which every",
        "collection added so far is scored on its test split (the forgetting matrices); then the final table, a full",
        "fine-tune of a copy of the query encoder per collection (the reference, alone and fused) and a leave-one-out",
        "zero-shot pass. Hybrid rows fuse BM25 (bm25s, stemmed) with the dense side: " + s["fusion"] + ".",
        "",
        f"Command: `{runnable(out['command'])}`. {doc.ran_on(FILE)} Encoding in **{s['dtype']}** "
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


def _costs_and_targets(doc: Doc, out: dict) -> None:
    doc.add("### Time and passages encoded per phase", "")
    doc.add(*table(["phase", "seconds", "passages encoded"], [[p, f(v["seconds"], 0), f"{v['passages_encoded']:,}"] for p, v in out["phases"].items()]))
    doc.add("### Targets (quality issue), as this run met them", "")
    rows = [[k, "" if "value" not in v else str(v["value"]), "" if "target" not in v else str(v["target"]), "yes" if v["met"] else "**no**"]
            for k, v in checks(out).items()]
    doc.add(*table(["target", "value", "target value", "met"], rows))


def section(doc: Doc) -> None:
    """The current run's section of ``docs/benchmarks.md``."""
    out = doc.data[FILE]
    _intro(doc, out)
    _final(doc, out)
    _general(doc, out)
    _gates(doc, out)
    _forgetting(doc, out)
    _router_and_zero_shot(doc, out)
    _finetune(doc, out)
    _costs_and_targets(doc, out)


# --- command line --------------------------------------------------------------------------------------


def render(src: Path) -> tuple[Path, str]:
    """The Markdown path beside a results JSON, and its text."""
    return src.with_suffix(".md"), markdown(json.loads(src.read_text()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-render a continual results JSON: its Markdown and PNG plots, beside it.")
    parser.add_argument("results", type=Path, nargs="?", default=RESULTS / FILE, help="the results JSON (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the Markdown beside the JSON differs from what it gives (no plots)")
    args = parser.parse_args(argv)
    src = args.results
    try:
        md_path, md = render(src)
    except ValueError as e:
        print(f"{src}: {e}", file=sys.stderr)
        return 2
    if args.check:
        if not md_path.is_file() or md_path.read_text() != md:
            print(f"{md_path} is stale: run python -m benchmarks.report.continual {src}", file=sys.stderr)
            return 1
        print(f"{md_path} is current")
        return 0
    md_path.write_text(md)
    plots(json.loads(src.read_text()), src.with_name(f"{src.stem}_matrix.png"), src.with_name(f"{src.stem}_bars.png"))
    print(f"wrote {md_path} and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
