"""Query latency (encode + search) of routed DDR vs the plain backbone, and index build throughput.

1. Index build throughput: ``build_index`` through the registry (general prefix, cache off) vs
   plain encoding of the same passages, alternating, on a slice of the corpus.
2. Latency: every test query of the collection, one at a time, against a full index of its
   corpus; the plain and the routed system alternate query by query so noise hits both alike.
   Routed = general + top-2 of 3 domain prefixes chosen by the router (tokens input).

    python -m benchmarks.performance.query_latency [--collection nfcorpus] [--slice 1024] [--rounds 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, alternate, machine, ratio, write
from benchmarks.performance.encoders import build_encoders


def write_slice(src: Path, dest: Path, n: int) -> Path:
    """A BEIR folder with the first ``n`` documents (qrels reduced to them) for the build timing."""
    import gzip
    import json

    dest.mkdir(parents=True)
    (dest / "qrels").mkdir()
    keep = set()
    with gzip.open(src / "corpus.jsonl.gz", "rt") as fin, open(dest / "corpus.jsonl", "w") as fout:
        for line in fin:
            if len(keep) >= n:
                break
            keep.add(json.loads(line)["_id"])
            fout.write(line)
    shutil.copy(src / "queries.jsonl.gz", dest / "queries.jsonl.gz")
    rows = [r for r in (src / "qrels" / "test.tsv").read_text().splitlines()[1:] if r.split("\t")[1] in keep]
    (dest / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return dest


def percentile(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", default="nfcorpus")
    parser.add_argument("--slice", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from ddr.modules import DDREncoder, load_backbone
    from ddr.registry import Registry
    from ddr.registry.aliases import set_alias
    from ddr.retrieval import index as faiss_index
    from ddr.retrieval.beir import load_collection
    from ddr.service.indexing import build_index
    from ddr.service.publish import publish_module, publish_router

    tmp = Path(tempfile.mkdtemp(prefix="ddr-bench-"))
    try:
        backbone = load_backbone()
        routed = build_encoders(backbone, 16)
        plain = DDREncoder(backbone)
        reg = Registry.init(tmp / "home")
        g = publish_module(reg, routed.general)
        versions = [(d.name, publish_module(reg, d).version) for d in routed.domain_modules.values()]
        publish_router(reg, routed.router, versions, g.version)
        set_alias(reg, "router@1", "production")

        # 1. build throughput on a slice, alternating with plain encoding of the same passages
        sl = write_slice(args.data / args.collection, tmp / "slice", args.slice)
        texts = load_collection(sl).passage_texts()[1]

        def ddr_build():
            shutil.rmtree(reg.home / "cache", ignore_errors=True)  # time the encoding, not the cache
            build_index(reg, str(sl), name="slice", progress=False)

        times = alternate({"plain_encode": lambda: plain.encode_passages(texts), "ddr_index_build": ddr_build}, args.rounds)
        build = ratio(times, "plain_encode", "ddr_index_build")

        # 2. latency against the full index
        coll = load_collection(args.data / args.collection, "test")
        doc_ids, _doc_texts = coll.passage_texts()
        start = time.perf_counter()
        record, _ = build_index(reg, str(args.data / args.collection), name="full", progress=False)
        full_build_s = time.perf_counter() - start
        loaded = faiss_index.load(reg.export_index(record, tmp / "ix"))
        _qids, qtexts = coll.judged_queries()
        lat = {"plain": [], "ddr_topk": []}
        for i, q in enumerate(qtexts):
            order = [("plain", plain, "plain"), ("ddr_topk", routed, "topk")]
            for name, enc, route in order if i % 2 == 0 else reversed(order):
                t0 = time.perf_counter()
                loaded.search(enc.encode_queries([q], route=route).numpy(), 10)
                lat[name].append(1000 * (time.perf_counter() - t0))
        summary = {
            name: {"p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2), "mean_ms": round(statistics.mean(v), 2)}
            for name, v in lat.items()
        }
        result = {
            "benchmark": "query_latency",
            "collection": args.collection,
            "machine": machine(),
            "index_build": {
                "slice_passages": len(texts),
                "rounds": args.rounds,
                "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
                "throughput_ratio_vs_plain_encoding": build,
                "full_index": {"passages": len(doc_ids), "seconds": round(full_build_s, 1)},
            },
            "latency": {
                "queries": len(qtexts),
                "systems": summary,
                "p50_ratio": round(summary["ddr_topk"]["p50_ms"] / summary["plain"]["p50_ms"], 3),
                "p95_ratio": round(summary["ddr_topk"]["p95_ms"] / summary["plain"]["p95_ms"], 3),
                "target_ratio": 1.5,
            },
        }
        path = write("query_latency", result)
        print(f"index build vs plain encoding ({len(texts)} passages): {build['median']:.3f}x throughput (rounds {build['rounds']})")
        print(f"full {args.collection} index: {len(doc_ids)} passages in {full_build_s:.0f} s")
        for name, s in summary.items():
            print(f"{name:9s} p50 {s['p50_ms']:.1f} ms  p95 {s['p95_ms']:.1f} ms  ({len(qtexts)} queries)")
        print(f"routed/plain latency: p50 {result['latency']['p50_ratio']:.3f}x  p95 {result['latency']['p95_ratio']:.3f}x (target <= 1.5x)")
        print(f"wrote {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
