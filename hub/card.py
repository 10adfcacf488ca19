"""The README.md model card pushed beside the manifest: what the repository is and how to pull it.

Everything on the card comes from the manifest (never from the environment), so equal manifests give
equal cards and a push of unchanged content changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ddr.registry.transfer import PortableVersion


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip() or "—"


def _metric(metrics: dict) -> str:
    keys = ("heldout_ndcg@10", "ndcg@10")
    found = [f"{k} {metrics[k]:.4f}" for k in keys if isinstance(metrics.get(k), (int, float))]
    heldout = metrics.get("heldout")
    if isinstance(heldout, dict):
        found += [f"{d}: {s:.4f}" for d, s in heldout.items() if isinstance(s, (int, float))]
    return ", ".join(found)


def model_card(repo_id: str, versions: Sequence[PortableVersion]) -> str:
    routers = sorted((v for v in versions if v.kind == "router"), key=lambda v: v.version)
    modules = sorted((v for v in versions if v.kind != "router"), key=lambda v: (v.kind, v.name, v.version))
    backbones = {v.backbone["weights_sha256"]: v.backbone for v in versions}
    production = next((r for r in routers if "production" in r.aliases), None)
    lines = [
        "---",
        "tags:",
        "- ddr",
        "- dense-retrieval",
        "- prefix-tuning",
        "---",
        "",
        f"# {repo_id}: a ddr module registry",
        "",
        "[ddr](https://arxiv.org/abs/2602.22547) (dynamic dense retrieval) keeps a bi-encoder backbone frozen and adds",
        "small deep-prefix modules: one *general* prefix for passages and queries, one *domain* prefix per domain for",
        "queries only, and a router that weights the domain prefixes per query. This repository holds versions of those",
        "modules and routers as safetensors + JSON config, with `manifest.json` listing every file's sha256.",
        "",
        "Pull it into a local registry (every file is verified against the manifest before anything is registered):",
        "",
        "```bash",
        "ddr-registry init",
        f"ddr-registry pull --repo {repo_id}" + (f"            # or --revision router-v{production.version}" if production else ""),
        "ddr-registry list",
        "```",
        "",
        "## Backbone",
        "",
        "| name | weights sha256 | layers | heads | head dim | hidden |",
        "|---|---|---|---|---|---|",
    ]
    for b in backbones.values():
        lines.append(f"| {_cell(b['name'])} | `{b['weights_sha256'][:16]}…` | {b['num_layers']} | {b['num_heads']} | {b['head_dim']} | {b['hidden_size']} |")
    lines += ["", "## Routers", "", "| version | aliases | general | domains | metrics |", "|---|---|---|---|---|"]
    for r in routers:
        doms = ", ".join(f"{n}@{v}" for n, v in r.domains) or "none"
        lines.append(f"| router@{r.version} | {_cell(', '.join(r.aliases))} | {r.general_version or '—'} | {_cell(doms)} | {_cell(_metric(r.metrics))} |")
    lines += ["", "## Modules", "", "| module | version | instruction | metrics |", "|---|---|---|---|"]
    for m in modules:
        instruction = m.instruction or m.description
        lines.append(f"| {m.kind}/{m.name} | {m.version} | {_cell(instruction)} | {_cell(_metric(m.metrics))} |")
    lines.append("")
    return "\n".join(lines)
