"""bf16 autocast vs fp32 on this machine: encoding speed and test nDCG@10 of the plain backbone.

    python -m benchmarks.performance.bf16_check [--collection cranfield --collection cisi]

Each collection's corpus is encoded in fp32 and in bf16 (alternating order per collection), queries
likewise; reported: the time ratio fp32/bf16 (> 1 means bf16 is faster) and the nDCG@10 change.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, machine, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", action="append", default=None)
    args = parser.parse_args()
    import torch

    from ddr.modules import DDREncoder, EncoderConfig, load_backbone
    from ddr.retrieval.beir import load_collection
    from ddr.retrieval.scoring import rank_and_score
    from ddr.trainer.data import QuerySet

    bb = load_backbone()
    encs = {d: DDREncoder(bb, config=EncoderConfig(dtype=d)) for d in ("float32", "bfloat16")}
    out = {"benchmark": "bf16_check", "machine": machine(), "collections": {}}
    for i, name in enumerate(args.collection or ["cranfield", "cisi"]):
        coll = load_collection(args.data / name, "test")
        ids, texts = coll.passage_texts()
        qids, qtexts = coll.judged_queries()
        qs = QuerySet(qids, qtexts, {q: {d: g for d, g in coll.qrels[q].items() if g > 0} for q in qids})
        res = {}
        for d in (["float32", "bfloat16"] if i % 2 == 0 else ["bfloat16", "float32"]):
            t = time.perf_counter()
            p = encs[d].encode_passages(texts)
            q = encs[d].encode_queries(qtexts, route="plain")
            res[d] = {"seconds": round(time.perf_counter() - t, 1), "ndcg@10": round(100 * rank_and_score(q, p, ids, qs), 2), "p": p}
        cos = torch.nn.functional.cosine_similarity(res["float32"]["p"], res["bfloat16"]["p"]).min().item()
        out["collections"][name] = {
            "passages": len(texts), "fp32": {k: v for k, v in res["float32"].items() if k != "p"}, "bf16": {k: v for k, v in res["bfloat16"].items() if k != "p"},
            "speed_ratio_bf16_vs_fp32": round(res["float32"]["seconds"] / res["bfloat16"]["seconds"], 2),
            "ndcg_delta": round(res["bfloat16"]["ndcg@10"] - res["float32"]["ndcg@10"], 2), "min_cosine": round(cos, 5),
        }
        print(name, out["collections"][name], flush=True)
    print(f"wrote {write('bf16_check', out)}")


if __name__ == "__main__":
    main()
