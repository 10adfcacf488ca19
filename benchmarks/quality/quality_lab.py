"""Quality levers, measured side by side on one set of trained modules: routers and hybrid fusion.

Trains (or reuses, with ``--home``) the seven domain modules through add-domain, all forced live,
then precomputes for every query (train, held-out, test) of every collection its top-100 under BM25
and under each of: general-only and every domain module. Every router is then just a choice of
module per query, so routers and fusion weights are compared on identical runs:

- routers: *provenance* (the product's linear router, labels = the collection a training query came
  from), *utility* (RouterRetriever's idea: label each training query with the module that retrieves
  it best, fit the same linear router on those labels), *knn* (vote of the nearest training queries'
  per-module utility), and *oracle-prior* (the query's own collection's module);
- fusion: dense only, BM25 + dense at lexical weight 0.5, and a lexical weight per module fitted on
  that module's held-out queries (abstaining queries use one fitted over all).

Choices are made on held-out queries; test figures are reported beside them.

    python -m benchmarks.quality.quality_lab [--home DIR] [--cache DIR] [--epochs N]

The routers and fusion are evaluated in ``lab_routes``; runs and per-query nDCG come from ``ddr.retrieval``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, ORDER, RESULTS, machine, write

K = 100


def _sets(data: Path, name: str):
    from ddr.retrieval.beir import load_collection
    from ddr.trainer.data import QuerySet, train_and_heldout

    train, heldout, _ = train_and_heldout(data / name)
    coll = load_collection(data / name, "test")
    qids, qtexts = coll.judged_queries()
    test = QuerySet(qids, qtexts, {q: {d: g for d, g in coll.qrels[q].items() if g > 0} for q in qids})
    return {"train": train, "heldout": heldout, "test": test}, coll


def collect(reg, data: Path) -> dict:
    """Per collection and split: query ids, qrels, token-mean reps, BM25 run, and the run under each route."""
    import torch

    from ddr.retrieval.bm25 import bm25_run
    from ddr.retrieval.scoring import rank
    from ddr.service import domain_data, live

    state = live.resolve(reg)
    enc = live.load_encoder(reg, state)
    routes = ["none", *[f"prior:{n}" for n in enc.domains]]
    out = {}
    for name in ORDER:
        sets, coll = _sets(data, name)
        d = domain_data.from_folder(reg, enc, name, str(data / name), general_key=state.general_key, progress=False)
        doc_ids, doc_texts = coll.passage_texts()
        assert doc_ids == d.doc_ids
        out[name] = {}
        for split, qs in sets.items():
            batch = enc.tokenize(qs.texts, enc.config.query_max_length)
            with torch.no_grad():
                reps = enc.token_mean(batch["input_ids"], batch["attention_mask"])
            runs = {r: rank(enc.encode_queries(qs.texts, route=r), d.passages, doc_ids, qs.ids, K) for r in routes}
            out[name][split] = {"qs": qs, "reps": reps, "bm25": bm25_run(doc_ids, doc_texts, qs.ids, qs.texts, k=K), "runs": runs}
        print(f"collected {name}", flush=True)
    return out


def dump(data: dict, folder: Path) -> None:
    """The collected runs (held-out and test in full, training queries as per-query nDCG) and query reps."""
    from safetensors.torch import save_file

    from ddr.retrieval.metrics import per_query

    folder.mkdir(parents=True, exist_ok=True)
    out, reps = {}, {}
    for name, splits in data.items():
        out[name] = {}
        for split, d in splits.items():
            qs = d["qs"]
            entry = {"ids": qs.ids, "qrels": qs.qrels}
            if split == "train":
                entry["ndcg"] = {r: per_query(qs.qrels, run) for r, run in d["runs"].items()}
            else:
                entry["runs"], entry["bm25"] = d["runs"], d["bm25"]
            out[name][split] = entry
            reps[f"{name}/{split}"] = d["reps"].float().contiguous()
    (folder / "runs.json").write_text(json.dumps(out))
    save_file(reps, str(folder / "reps.safetensors"))


def load_dump(folder: Path) -> dict:
    """What :func:`dump` saved, in :func:`collect`'s shape (training queries carry per-query nDCG, not runs)."""
    from safetensors.torch import load_file

    from ddr.trainer.data import QuerySet

    raw = json.loads((folder / "runs.json").read_text())
    reps = load_file(str(folder / "reps.safetensors"))
    data = {}
    for name, splits in raw.items():
        data[name] = {}
        for split, e in splits.items():
            qs = QuerySet(e["ids"], [""] * len(e["ids"]), e["qrels"])
            data[name][split] = {"qs": qs, "reps": reps[f"{name}/{split}"], **{k: e[k] for k in ("runs", "bm25", "ndcg") if k in e}}
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--home", type=Path, default=None, help="registry home (kept: modules are trained once)")
    parser.add_argument("--load", type=Path, default=None, help="evaluate a --dump folder instead of collecting")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dump", type=Path, default=None, help="save the collected runs here (JSON + safetensors) for benchmarks.sweeps.gate_sim")
    parser.add_argument("--counts", action="store_true", help="only add the query counts per split (n) to the existing results JSON")
    args = parser.parse_args()
    if args.counts:
        path = RESULTS / "quality_lab.json"
        results = json.loads(path.read_text())
        results["n"] = {n: {s: len(q.ids) for s, q in _sets(args.data, n)[0].items()} for n in ORDER}
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote n into {path}")
        return

    from benchmarks.quality.lab_routes import evaluate_all
    from ddr.registry import Registry
    from ddr.service.domain import add_domain
    from ddr.trainer.config import DomainTrainConfig

    t0 = time.perf_counter()
    if args.load:
        results = evaluate_all(load_dump(args.load), ORDER)
        results.update(benchmark="quality_lab", machine=machine(), order=ORDER, seconds=round(time.perf_counter() - t0, 1))
        print(f"wrote {write('quality_lab', results)}")
        return
    reg = Registry.init(args.home)
    if args.cache:
        shutil.copytree(args.cache, reg.home / "cache" / "embeddings", dirs_exist_ok=True)
    live_names = {mv.name for mv in reg.module_versions()}
    for n in ORDER:
        if n not in live_names:
            add_domain(reg, n, data=str(args.data / n), force=True, progress=False, config=DomainTrainConfig(epochs=args.epochs))
            print(f"trained {n}", flush=True)
    data = collect(reg, args.data)
    if args.dump:
        dump(data, args.dump)
    results = evaluate_all(data, ORDER)
    results.update(benchmark="quality_lab", machine=machine(), order=ORDER, seconds=round(time.perf_counter() - t0, 1))
    print(f"wrote {write('quality_lab', results)}")


if __name__ == "__main__":
    main()
