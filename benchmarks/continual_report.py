"""The continual benchmark's report: target checks, the Markdown tables and the PNG plots.

Separate from ``continual.py`` so a results JSON can be re-rendered without rerunning anything:

    python benchmarks/continual_report.py benchmarks/results/continual.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def checks(out: dict) -> dict:
    """The issue's targets, evaluated on this run's figures."""
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

    systems = list(out["average"])
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
