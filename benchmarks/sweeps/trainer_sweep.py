"""Trainer defaults by measurement: query-side domain training variants scored on held-out queries.

Each variant trains a fresh domain prefix on one collection's training queries against its cached
passages (identity general prefix) and reports the best held-out nDCG@10, the epoch it came from
and the wall time. Test nDCG@10 of the kept module is printed for information only: choose on
held-out.

    python -m benchmarks.sweeps.trainer_sweep [--collection scifact] [--home DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, machine, write

# Explicit configs (not "the default"), so a rerun after a default changes means the same thing.
VARIANTS = {
    "P16, lr 5e-3, 10 ep": {"prefix_length": 16, "lr": 5e-3, "epochs": 10},
    "P16, lr 1e-2, 10 ep": {"prefix_length": 16, "lr": 1e-2, "epochs": 10},
    "P16, lr 2e-3, 10 ep": {"prefix_length": 16, "lr": 2e-3, "epochs": 10},
    "P32, lr 5e-3, 10 ep": {"prefix_length": 32, "lr": 5e-3, "epochs": 10},
    "P16, lr 5e-3, 20 ep": {"prefix_length": 16, "lr": 5e-3, "epochs": 20},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--home", default=None, help="registry home whose embedding cache to reuse (default: a temp one)")
    args = parser.parse_args()

    import tempfile

    import torch

    from ddr.modules import DDREncoder, PrefixModule, load_backbone
    from ddr.registry import Registry
    from ddr.retrieval.beir import corpus_fingerprint, load_collection
    from ddr.retrieval.scoring import rank_and_score
    from ddr.service.cache import IDENTITY, passage_embeddings
    from ddr.trainer.config import DomainTrainConfig
    from ddr.trainer.data import QuerySet, train_and_heldout
    from ddr.trainer.domain import train_domain

    reg = Registry.init(args.home or tempfile.mkdtemp(prefix="ddr-sweep-"))
    folder = args.data / args.collection
    coll = load_collection(folder, "test")
    doc_ids, texts = coll.passage_texts()
    backbone = load_backbone()
    plain = DDREncoder(backbone)
    emb, _ = passage_embeddings(reg, plain, texts, general_key=IDENTITY, corpus=corpus_fingerprint(coll.corpus), progress=False)
    passages = torch.from_numpy(emb)
    train, heldout, source = train_and_heldout(folder)
    qids, qtexts = coll.judged_queries()
    test = QuerySet(qids, qtexts, {q: {d: g for d, g in coll.qrels[q].items() if g > 0} for q in qids})
    rows = {}
    for name, overrides in VARIANTS.items():
        cfg = DomainTrainConfig(**overrides)
        module = PrefixModule.create(backbone, "domain", args.collection, cfg.prefix_length, base=False)
        enc = DDREncoder(backbone, None, [module])
        start = time.perf_counter()
        result = train_domain(enc, module, passages, doc_ids, train, heldout, cfg)
        seconds = time.perf_counter() - start
        kept = DDREncoder(backbone, None, [result.module])
        test_score = rank_and_score(kept.encode_queries(test.texts, route=f"prior:{args.collection}"), passages, doc_ids, test)
        rows[name] = {
            "config": cfg.to_dict(),
            "heldout_general_only": round(100 * result.heldout_ndcg[0], 2),
            "heldout_best": round(100 * max(result.heldout_ndcg), 2),
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.heldout_ndcg) - 1,
            "seconds": round(seconds, 1),
            "test_ndcg@10": round(100 * test_score, 2),
        }
        r = rows[name]
        print(f"{name:32s} held-out {r['heldout_general_only']:.2f} -> {r['heldout_best']:.2f} (epoch {r['best_epoch']}/{r['epochs_run']}), {r['seconds']:.0f} s, test {r['test_ndcg@10']:.2f}")
    out = {"benchmark": "trainer_sweep", "collection": args.collection, "heldout": source, "machine": machine(), "variants": rows}
    print(f"wrote {write('trainer_sweep', out)}")


if __name__ == "__main__":
    main()
