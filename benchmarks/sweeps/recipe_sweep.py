"""The domain recipe, chosen on the held-out queries of all seven collections (never the test split).

Variants trained against the BM25-fused score are scored (and early-stopped) on held-out nDCG@10 of
hybrid search at the same lexical weight; the others on dense held-out nDCG@10.

Each variant trains a fresh domain prefix per collection on its training queries against its cached
passages (identity general prefix, as in the continual stream when the general phase is refused) and
records the best held-out nDCG@10, the epoch it came from and the time. Variants move one setting at
a time from the current default; the summary averages over collections (each collection counts
once: the held-out sets have 4 to 324 queries) and also reports the query-weighted mean.

    python -m benchmarks.sweeps.recipe_sweep [--data ../shared/data/beir] [--cache DIR] [--variants a,b]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, ORDER, machine, write

BASE = {"prefix_length": 16, "lr": 1e-2, "epochs": 10, "patience": 3, "temperature": 0.05, "batch_size": 32}
VARIANTS = {  # explicit, so a rerun after a default changes means the same thing
    "base (P16 lr1e-2 10ep pat3 T.05)": {},
    "30 epochs, patience 5": {"epochs": 30, "patience": 5},
    "lr 5e-3, 30 ep, pat 5": {"lr": 5e-3, "epochs": 30, "patience": 5},
    "lr 2e-2": {"lr": 2e-2},
    "P8": {"prefix_length": 8},
    "P32": {"prefix_length": 32},
    "T 0.02": {"temperature": 0.02},
    "T 0.1": {"temperature": 0.1},
    "batch 16": {"batch_size": 16},
    "fused with BM25 at 0.5": {"lexical_weight": 0.5},
    "fused 0.5, 30 ep, pat 5": {"lexical_weight": 0.5, "epochs": 30, "patience": 5},
}


def _collections(reg, data: Path):
    import torch

    from ddr.modules import DDREncoder, load_backbone
    from ddr.retrieval.beir import corpus_fingerprint, load_corpus
    from ddr.service.cache import IDENTITY, passage_embeddings
    from ddr.trainer.data import train_and_heldout

    backbone = load_backbone()
    plain = DDREncoder(backbone)
    out = {}
    for name in ORDER:
        corpus = load_corpus(data / name)
        texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
        emb, _ = passage_embeddings(reg, plain, texts, general_key=IDENTITY, corpus=corpus_fingerprint(corpus), progress=False)
        train, heldout, _ = train_and_heldout(data / name)
        out[name] = (list(corpus), torch.from_numpy(emb), train, heldout, texts)
    return backbone, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--variants", default="", help="|-separated variant names (default: all)")
    args = parser.parse_args()

    from ddr.modules import DDREncoder, PrefixModule
    from ddr.registry import Registry
    from ddr.retrieval.fusion import convex
    from ddr.retrieval.metrics import evaluate
    from ddr.retrieval.scoring import rank
    from ddr.trainer.config import DomainTrainConfig
    from ddr.trainer.domain import lexical_view, train_domain

    tmp = Path(tempfile.mkdtemp(prefix="ddr-recipe-"))
    try:
        reg = Registry.init(tmp / "home")
        if args.cache:
            shutil.copytree(args.cache, reg.home / "cache" / "embeddings", dirs_exist_ok=True)
        backbone, colls = _collections(reg, args.data)
        chosen = [v for v in VARIANTS if not args.variants or v in args.variants.split("|")]
        rows, lexicals = {}, {}
        for variant in chosen:
            cfg = DomainTrainConfig(**{**BASE, **VARIANTS[variant]})
            per = {}
            for name, (doc_ids, passages, train, heldout, texts) in colls.items():
                module = PrefixModule.create(backbone, "domain", name, cfg.prefix_length, base=False)
                start = time.perf_counter()
                lexical = lexicals.setdefault(name, lexical_view(texts, doc_ids, train, heldout))
                result = train_domain(DDREncoder(backbone, None, [module]), module, passages, doc_ids, train, heldout, cfg, lexical=lexical)
                kept = DDREncoder(backbone, None, [result.module]).encode_queries(heldout.texts, route=f"prior:{name}")
                run = rank(kept, passages, doc_ids, heldout.ids)
                per[name] = {
                    "dense": round(100 * evaluate(heldout.qrels, run)["nDCG@10"], 2),
                    "hybrid0.5": round(100 * evaluate(heldout.qrels, convex(run, lexical.heldout, 0.5))["nDCG@10"], 2),
                    "n_heldout": len(heldout), "general_only": round(100 * result.heldout_ndcg[0], 2),
                    "best": round(100 * max(result.heldout_ndcg), 2), "best_epoch": result.best_epoch,
                    "epochs_run": len(result.heldout_ndcg) - 1, "seconds": round(time.perf_counter() - start, 1),
                }
            n = sum(p["n_heldout"] for p in per.values())
            rows[variant] = {
                "config": cfg.to_dict(), "collections": per,
                "mean_best": round(sum(p["best"] for p in per.values()) / len(per), 2),
                "mean_dense": round(sum(p["dense"] for p in per.values()) / len(per), 2),
                "mean_hybrid0.5": round(sum(p["hybrid0.5"] for p in per.values()) / len(per), 2),
                "mean_gain": round(sum(p["best"] - p["general_only"] for p in per.values()) / len(per), 2),
                "query_weighted_best": round(sum(p["best"] * p["n_heldout"] for p in per.values()) / n, 2),
                "seconds": round(sum(p["seconds"] for p in per.values()), 1),
            }
            r = rows[variant]
            cells = " ".join(f"{k[:5]} {v['best']:.1f}@{v['best_epoch']}" for k, v in per.items())
            print(f"{variant:34s} dense {r['mean_dense']:.2f} hybrid {r['mean_hybrid0.5']:.2f} best {r['mean_best']:.2f} "
                  f"(gain {r['mean_gain']:+.2f}, q-weighted {r['query_weighted_best']:.2f}) "
                  f"{r['seconds']:.0f}s | {cells}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write("recipe_sweep", {"benchmark": "recipe_sweep", "machine": machine(), "order": ORDER, "base": BASE, "variants": rows})


if __name__ == "__main__":
    main()
