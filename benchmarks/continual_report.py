"""The continual benchmark's report: target checks, the Markdown tables and the PNG plots.

Separate from ``continual.py`` so a results JSON can be re-rendered without rerunning anything:

    python benchmarks/continual_report.py benchmarks/results/continual.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BAR_SYSTEMS = ("BM25", "plain", "BM25 + plain", "DDR-prior", "DDR-topk", "BM25 + DDR-topk", "query-encoder fine-tune", "BM25 + fine-tune")


def checks(out: dict) -> dict:
    """The targets, evaluated on this run's figures (version 2: the quality issue's; else the first run's)."""
    return checks_v2(out) if out.get("version") == 2 else checks_v1(out)


def _worst_drop(rows: list[dict], names: list[str]) -> float:
    """The largest fall of any collection's score below its best earlier value over the stream."""
    drops = [max(rows[j][n] for j in range(names.index(n), k)) - rows[k][n] for k in range(1, len(rows)) for n in names[:k]]
    return max(drops or [0.0])


def checks_v2(out: dict) -> dict:
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


def checks_v1(out: dict) -> dict:
    """The first continual run's targets."""
    avg, names = out["average"], out["order"]
    prior, topk = out["forgetting_matrix"]["prior"], out["forgetting_matrix"]["topk"]
    best_bm25 = max(avg["BM25"], avg["BM25 (no stem)"])
    prior_unchanged = all(prior[k][n] == prior[k - 1][n] for k in range(1, len(prior)) for n in prior[k - 1])
    worst_topk_drop = max(
        [max(topk[j][n] for j in range(names.index(n), k)) - topk[k][n] for k in range(1, len(topk)) for n in names[:k]] or [0.0]
    )
    zs = [z["delta_vs_plain"] for z in out["zero_shot"].values()]
    return {
        "prior_vs_plain_plus_3": {"value": round(avg["DDR-prior"] - avg["plain"], 2), "target": 3.0, "met": avg["DDR-prior"] >= avg["plain"] + 3},
        "prior_vs_best_bm25": {"value": round(avg["DDR-prior"] - best_bm25, 2), "target": 0.0, "met": avg["DDR-prior"] >= best_bm25},
        "topk_within_1_of_prior": {"value": round(avg["DDR-topk"] - avg["DDR-prior"], 2), "target": -1.0, "met": avg["DDR-topk"] >= avg["DDR-prior"] - 1},
        "router_accuracy": {"value": out["router_test"]["accuracy"], "target": 90.0, "met": out["router_test"]["accuracy"] >= 90},
        "prior_forgetting_exactly_zero": {"met": prior_unchanged},
        "topk_worst_drop": {"value": round(worst_topk_drop, 2), "target": 0.5, "met": worst_topk_drop <= 0.5},
        "zero_shot_worst_delta": {"value": min(zs, default=0.0), "target": -0.5, "met": min(zs, default=0.0) >= -0.5},
        "prior_vs_finetune": {
            "value": round(avg["DDR-prior"] - avg["query-encoder fine-tune"], 2), "target": 0.0, "met": avg["DDR-prior"] >= avg["query-encoder fine-tune"],
        },
        "per_domain_params_pct": {"value": out["parameters"]["per_domain_pct_of_backbone"], "target": 2.0, "met": out["parameters"]["per_domain_pct_of_backbone"] <= 2.0},
        "no_earlier_passage_reencoded": {"met": all(a["passages_encoded"] == 0 for a in out["additions"])},
    }


def markdown(out: dict) -> str:
    return markdown_v2(out) if out.get("version") == 2 else markdown_v1(out)


def markdown_v2(out: dict) -> str:
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


def markdown_v1(out: dict) -> str:
    names = out["order"]
    systems = list(out["average"])
    lines = ["| system | " + " | ".join(names) + " | **average** |", "|---|" + "---:|" * (len(names) + 1)]
    for s in systems:
        lines.append(f"| {s} | " + " | ".join(f"{out['table'][n][s]:.1f}" for n in names) + f" | **{out['average'][s]:.1f}** |")
    lines += ["", "Forgetting matrix (test nDCG@10 x 100; row = after adding that domain):", ""]
    for r, rows in out["forgetting_matrix"].items():
        lines += [f"**{r}**", "", "| after adding | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for a, row in zip(out["additions"], rows):
            mark = "" if a["activated"] else " (gate refused)"
            lines.append(f"| {a['domain']}{mark} | " + " | ".join(f"{row[n]:.1f}" if n in row else "" for n in names) + " |")
        lines.append("")
    lines += ["Leave-one-out zero-shot (top-k over the other domains, router refit without it):", "",
              "| collection | plain | DDR-topk (never added) | delta | abstained % |", "|---|---:|---:|---:|---:|"]
    for n, z in out["zero_shot"].items():
        lines.append(f"| {n} | {z['plain']:.1f} | {z['DDR-topk (never added)']:.1f} | {z['delta_vs_plain']:+.1f} | {z['abstained_pct']:.0f} |")
    lines += ["", "| phase | seconds | passages encoded |", "|---|---:|---:|"]
    for p, v in out["phases"].items():
        lines.append(f"| {p} | {v['seconds']:.0f} | {v['passages_encoded']} |")
    lines += ["", (f"Total {out['total_seconds'] / 60:.1f} min. Router accuracy on test queries {out['router_test']['accuracy']}% "
              f"(abstained {out['router_test']['abstained_pct']}%; on the live domains' queries only: {out['router_test']['accuracy_live_domains']}%). Parameters per domain module: "
              f"{out['parameters']['per_domain_pct_of_backbone']}% of the backbone; all trainable: {out['parameters']['total_pct_of_backbone']}%."), "",
              "| target | value | met |", "|---|---:|---|"]
    for k, v in out["checks"].items():
        lines.append(f"| {k} | {v.get('value', '')} | {'yes' if v['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"


def plots(out: dict, matrix_path: Path, bars_path: Path) -> None:
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
    systems = [s for s in out["average"] if out.get("version") != 2 or s in BAR_SYSTEMS]
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


if __name__ == "__main__":
    src = Path(sys.argv[1])
    out = json.loads(src.read_text())
    src.with_suffix(".md").write_text(markdown(out))
    plots(out, src.with_name(f"{src.stem}_matrix.png"), src.with_name(f"{src.stem}_bars.png"))
    print(f"wrote {src.with_suffix('.md')} and the plots")
