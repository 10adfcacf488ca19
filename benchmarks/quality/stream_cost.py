"""Cost of the continual stream: the seven collections added the ddr way against the way a user adapts
today, in one run.

- **ddr**: each corpus is encoded once (frozen backbone, no general phase here), then add-domain trains
  the query-side module with the default recipe and refits the router, gating on every live domain.
- **Today**: at each arrival, fine-tune the bi-encoder on the training queries of every collection
  seen so far (in-batch negatives, batch 32, lr 2e-5, ``--ft-epochs`` epochs) and re-encode every
  corpus seen so far (the old index is useless once the passage encoder changed): 109k passages over
  the stream.

What runs in full and what is extrapolated (stated in the JSON):

- ddr's first ``--full`` arrivals run in full (add-domain from a cold cache, so encoding included).
  Later arrivals: their corpus's encoding from the per-passage cost measured on that corpus in this
  run, plus their add-domain training and gating time as recorded by the continual benchmark
  (``continual.json``), scaled by this run's measured/recorded ratio on the arrivals run in full.
- Today's first arrival runs in full (fine-tune, then re-encode). Later arrivals: fine-tune steps
  (epochs x batches per collection seen) x the per-step cost measured on each collection in this
  run, plus every corpus seen so far x its per-passage encoding cost measured in this run.

    python -m benchmarks.quality.stream_cost [--full 2] [--ft-epochs 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, ORDER, RESULTS, auto_dtype, machine, write
from benchmarks.quality.finetune import finetune

SAMPLE = 256  # passages per collection for its per-passage encoding cost
STEP_SAMPLE = 4  # timed fine-tune steps per collection (after one warm-up step)
BATCH = 32
TARGET = 0.10


def per_passage_cost(encoder, texts: list[str], seed: int) -> float:
    sample = random.Random(seed).sample(texts, min(SAMPLE, len(texts)))
    encoder.encode_passages(sample[:32])  # warm
    t = time.perf_counter()
    encoder.encode_passages(sample)
    return (time.perf_counter() - t) / len(sample)


def step_cost(backbone, train, doc_texts, doc_index) -> float:
    """Seconds per bi-encoder fine-tune step (batch 32, passages in the loop) on this collection's data."""
    from ddr.trainer.data import QuerySet

    rows = [i for i, q in enumerate(train.ids) if any(d in doc_index for d in train.qrels[q])]
    take = rows[: BATCH * (STEP_SAMPLE + 1)]
    while len(take) < BATCH * (STEP_SAMPLE + 1):  # small collections: cycle their queries
        take += rows[: BATCH * (STEP_SAMPLE + 1) - len(take)]
    sub = QuerySet([f"{train.ids[i]}#{k}" for k, i in enumerate(take)], [train.texts[i] for i in take],
                   {f"{train.ids[i]}#{k}": train.qrels[train.ids[i]] for k, i in enumerate(take)})
    model = copy.deepcopy(backbone.model)
    model.set_attn_implementation("sdpa")
    warm = QuerySet(sub.ids[:BATCH], sub.texts[:BATCH], {q: sub.qrels[q] for q in sub.ids[:BATCH]})
    finetune(model, backbone.tokenizer, backbone.pooling, warm, doc_texts, doc_index, None, 1, biencoder=True)
    timed = QuerySet(sub.ids[BATCH:], sub.texts[BATCH:], {q: sub.qrels[q] for q in sub.ids[BATCH:]})
    t = time.perf_counter()
    finetune(model, backbone.tokenizer, backbone.pooling, timed, doc_texts, doc_index, None, 1, biencoder=True)
    return (time.perf_counter() - t) / STEP_SAMPLE


def calibrated(base_rows: list[dict], factor: float, ddr_total: float) -> dict:
    """The fine-tune way's total with its extrapolated arrivals scaled by measured/model on the first one."""
    today = base_rows[0]["seconds"] + factor * sum(r["seconds"] for r in base_rows[1:])
    return {"factor": round(factor, 3), "today_seconds": round(today, 1), "ratio_ddr_over_today": round(ddr_total / today, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--full", type=int, default=2, help="ddr arrivals run in full (the rest extrapolated)")
    parser.add_argument("--ft-epochs", type=int, default=3)
    args = parser.parse_args()

    from ddr.modules import DDREncoder, EncoderConfig, load_backbone
    from ddr.registry import Registry
    from ddr.retrieval.beir import load_collection
    from ddr.service.domain import add_domain
    from ddr.trainer.data import train_and_heldout

    dtype = auto_dtype()
    recorded = {a["domain"]: a["seconds"] for a in json.loads((RESULTS / "continual.json").read_text())["additions"]}
    t0 = time.perf_counter()
    backbone = load_backbone()
    plain = DDREncoder(backbone, config=EncoderConfig(dtype=dtype))
    info = {}
    for i, name in enumerate(ORDER):
        folder = args.data / name
        coll = load_collection(folder, "test")
        doc_ids, texts = coll.passage_texts()
        train, _, _ = train_and_heldout(folder)
        doc_index = {d: j for j, d in enumerate(doc_ids)}
        queries = sum(1 for q in train.ids if any(d in doc_index for d in train.qrels[q]))
        info[name] = {"passages": len(texts), "train_queries": queries, "encode_s_per_passage": per_passage_cost(plain, texts, i),
                      "ft_s_per_step": step_cost(backbone, train, texts, doc_index)}
        print(name, info[name], flush=True)

    # ddr: the first arrivals in full
    tmp = Path(tempfile.mkdtemp(prefix="ddr-stream-"))
    ddr_rows = []
    try:
        reg = Registry.init(tmp / "home")
        for name in ORDER[: args.full]:
            t = time.perf_counter()
            rep = add_domain(reg, name, data=str(args.data / name), progress=False, force=True, dtype=dtype)
            seconds = time.perf_counter() - t
            ddr_rows.append({"arrival": name, "how": "run in full", "seconds": round(seconds, 1), "passages_encoded": rep.passages_encoded})
            print(ddr_rows[-1], flush=True)
        reg.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    measured_train = sum(r["seconds"] - info[r["arrival"]]["passages"] * info[r["arrival"]]["encode_s_per_passage"] for r in ddr_rows)
    scale = measured_train / sum(recorded[r["arrival"]] for r in ddr_rows)
    for name in ORDER[args.full:]:
        enc = info[name]["passages"] * info[name]["encode_s_per_passage"]
        ddr_rows.append({"arrival": name, "how": "extrapolated", "seconds": round(enc + recorded[name] * scale, 1),
                         "encode_seconds": round(enc, 1), "train_and_gate_seconds": round(recorded[name] * scale, 1)})

    # today: the first arrival in full (fine-tune on it, re-encode it), the rest from unit costs
    first = ORDER[0]
    coll = load_collection(args.data / first, "test")
    doc_ids, texts = coll.passage_texts()
    train, _, _ = train_and_heldout(args.data / first)
    model = copy.deepcopy(backbone.model)
    model.set_attn_implementation("sdpa")
    t = time.perf_counter()
    finetune(model, backbone.tokenizer, backbone.pooling, train, texts, {d: j for j, d in enumerate(doc_ids)}, None, args.ft_epochs, biencoder=True)
    tuned = DDREncoder(type(backbone)(model, backbone.tokenizer, backbone.pooling, backbone.spec), config=EncoderConfig(dtype=dtype))
    tuned.encode_passages(texts)
    base_rows = [{"arrival": first, "how": "run in full", "seconds": round(time.perf_counter() - t, 1),
                  "passages_reencoded": len(texts)}]
    print(base_rows[-1], flush=True)
    for i, name in enumerate(ORDER[1:], start=1):
        seen = ORDER[: i + 1]
        steps = {c: args.ft_epochs * math.ceil(info[c]["train_queries"] / BATCH) for c in seen}
        ft = sum(steps[c] * info[c]["ft_s_per_step"] for c in seen)
        enc = sum(info[c]["passages"] * info[c]["encode_s_per_passage"] for c in seen)
        base_rows.append({"arrival": name, "how": "extrapolated", "seconds": round(ft + enc, 1), "finetune_steps": sum(steps.values()),
                          "finetune_seconds": round(ft, 1), "passages_reencoded": sum(info[c]["passages"] for c in seen),
                          "encode_seconds": round(enc, 1)})
    first_model = args.ft_epochs * math.ceil(info[first]["train_queries"] / BATCH) * info[first]["ft_s_per_step"] + \
        info[first]["passages"] * info[first]["encode_s_per_passage"]
    ddr_total, base_total = sum(r["seconds"] for r in ddr_rows), sum(r["seconds"] for r in base_rows)
    calibration = base_rows[0]["seconds"] / first_model  # measured / unit-cost model on the arrival run in full
    out = {
        "benchmark": "stream_cost", "machine": machine(), "dtype": dtype, "order": ORDER, "ft_epochs": args.ft_epochs, "ft_batch": BATCH,
        "collections": {k: {**v, "encode_s_per_passage": round(v["encode_s_per_passage"], 5), "ft_s_per_step": round(v["ft_s_per_step"], 3)}
                        for k, v in info.items()},
        "ddr": ddr_rows, "today": base_rows,
        "ddr_train_scale_vs_continual_json": round(scale, 3),
        "model_check_first_arrival_today": {"measured": base_rows[0]["seconds"], "from_unit_costs": round(first_model, 1)},
        "totals_seconds": {"ddr": round(ddr_total, 1), "today": round(base_total, 1)},
        "passages_encoded": {"ddr": sum(v["passages"] for v in info.values()), "today": sum(r.get("passages_reencoded", 0) for r in base_rows)},
        "ratio_ddr_over_today": round(ddr_total / base_total, 3), "target": TARGET, "met": ddr_total / base_total <= TARGET,
        "calibrated": calibrated(base_rows, calibration, ddr_total),
        "seconds": round(time.perf_counter() - t0, 1), "command": "python -m benchmarks.quality.stream_cost",
    }
    print(f"ddr {ddr_total:.0f} s, today {base_total:.0f} s, ratio {ddr_total / base_total:.3f}")
    print(f"wrote {write('stream_cost', out)}")


if __name__ == "__main__":
    main()
