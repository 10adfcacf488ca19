"""Encoding throughput: plain backbone vs DDR passages (general prefix) vs DDR routed queries.

All systems run in one process, alternating order per round; ratios are per round (baseline time
over system time, so > 1 means faster than plain) and the median is reported.

    python -m benchmarks.performance.encoder_throughput [--data ../shared/data/beir] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import torch

from benchmarks.common import DEFAULT_DATA, alternate, machine, ratio, write
from benchmarks.performance.encoders import build_encoders


def read_jsonl(path: Path, limit: int) -> list[dict]:
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line))
            if len(out) >= limit:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--queries", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefix-lengths", default="16,64")
    parser.add_argument("--bf16-passages", type=int, default=64, help="passages for the bf16 vs fp32 check (0: skip)")
    args = parser.parse_args()

    from ddr.modules import DDREncoder, EncoderConfig, load_backbone

    folder = args.data / args.collection
    docs = read_jsonl(folder / "corpus.jsonl.gz", args.passages)
    passages = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    queries = [q["text"] for q in read_jsonl(folder / "queries.jsonl.gz", args.queries)]
    backbone = load_backbone()
    plain = DDREncoder(backbone)
    lengths = [int(p) for p in args.prefix_lengths.split(",")]
    encoders = {p: build_encoders(backbone, p) for p in lengths}
    general_routed = build_encoders(backbone, lengths[0], router_input="general")

    systems = {"plain_passages": lambda: plain.encode_passages(passages)}
    for p, enc in encoders.items():
        systems[f"ddr_passages_P{p}"] = lambda enc=enc: enc.encode_passages(passages)
    systems["plain_queries"] = lambda: plain.encode_queries(queries, route="plain")
    for p, enc in encoders.items():
        systems[f"ddr_queries_topk_P{p}"] = lambda enc=enc: enc.encode_queries(queries, route="topk")
    systems[f"ddr_queries_topk_P{lengths[0]}_general_router"] = lambda: general_routed.encode_queries(queries, route="topk")

    times = alternate(systems, args.rounds)
    ratios = {}
    for name in systems:
        if name.startswith("ddr_passages"):
            ratios[name] = ratio(times, "plain_passages", name)
        elif name.startswith("ddr_queries"):
            ratios[name] = ratio(times, "plain_queries", name)

    result = {
        "benchmark": "encoder_throughput",
        "collection": args.collection,
        "passages": len(passages),
        "queries": len(queries),
        "passage_max_length": plain.config.passage_max_length,
        "rounds": args.rounds,
        "machine": machine(),
        "seconds": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "throughput_ratio_vs_plain": ratios,
        "targets": {"passages": 0.90, "routed_queries": 0.60},
    }
    if args.bf16_passages:
        sub = passages[: args.bf16_passages]
        g = encoders[lengths[0]].general
        fp32 = DDREncoder(backbone, g)
        bf16 = DDREncoder(backbone, g, config=EncoderConfig(dtype="bfloat16"))
        t = alternate({"fp32": lambda: fp32.encode_passages(sub), "bf16": lambda: bf16.encode_passages(sub)}, args.rounds)
        cos = torch.nn.functional.cosine_similarity(fp32.encode_passages(sub), bf16.encode_passages(sub)).min().item()
        result["bf16_vs_fp32"] = {"passages": len(sub), "speed_ratio": ratio(t, "fp32", "bf16"), "min_cosine": round(cos, 6)}

    path = write("encoder_throughput", result)
    for name, r in ratios.items():
        print(f"{name:45s} {r['median']:.3f}x plain  (rounds {r['rounds']})")
    if "bf16_vs_fp32" in result:
        b = result["bf16_vs_fp32"]
        print(f"bf16 vs fp32 passages: {b['speed_ratio']['median']:.3f}x, min cosine {b['min_cosine']}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
