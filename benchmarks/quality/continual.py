"""The continual-learning benchmark: seven domains added one after another, through the library.

    python -m benchmarks.quality.continual [--data ../shared/data/beir] [--dtype auto] [--quick]

One registry home in a temp dir (SQLite), the default backbone, and the library calls the CLI
makes (``train-general``, then ``add-domain`` per collection, the product's gate included):

1. baselines: BM25 (with and without stemming), the plain backbone, and the two fused (BM25 +
   plain, min-max convex at 0.5 and RRF): what a search engine offers without ddr;
2. ``train-general`` on the union of the train splits (collections balanced, title -> text pairs);
3. ``add-domain`` for each collection in ``benchmarks.common.ORDER``; after each, every collection added so far is
   scored on its **test** split under prior and top-k routing, dense and hybrid (the forgetting
   matrices);
4. final table: every baseline, DDR-prior/topk/soft dense, BM25 + DDR-prior/topk hybrid (at 0.5,
   and top-k at the router's learned weights), and a full fine-tune of the query encoder per
   collection on the same training queries (dense and fused with BM25), with the fine-tune
   comparison split into test queries whose relevant documents were training positives and the
   others; the router's routing on test queries; parameters; wall time and passages per phase;
5. leave-one-out zero-shot: each collection scored with top-k routing over the other six domains
   (the final router without it), against the plain backbone, dense and hybrid.

Encoding runs in bf16 where the CPU has bf16 units (``--dtype auto``; training stays fp32). Every
passage encoding goes through ``DDREncoder.encode_passages``, which this script counts. Writes
``benchmarks/results/continual.json``, and through ``benchmarks.report.continual`` (the renderer of
its schema) ``continual.md`` and two PNG plots; n (queries) is recorded for every collection and split.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from benchmarks.common import DEFAULT_DATA, ORDER, RESULTS, auto_dtype, write
from benchmarks.quality.continual_eval import dense_run, finetune_query_encoder, hybrid, ndcg, rrf, zero_shot
from benchmarks.quality.continual_parts import addition, final_rows, finetune_split, forgetting_rows, parameters, results, routing_report
from benchmarks.report.continual import markdown, plots
from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig

INSTRUCTIONS = {
    "scifact": "Scientific claims; retrieve the paper abstracts that support or refute them.",
    "nfcorpus": "Consumer nutrition and health questions; retrieve medical research abstracts.",
    "cranfield": "Aeronautics and aerodynamics questions; retrieve technical report abstracts.",
    "cisi": "Library and information science questions; retrieve article abstracts.",
    "cacm": "Computer science information needs; retrieve CACM titles and abstracts.",
    "npl": "Electrical engineering topics (upper case); retrieve physics and EE abstracts.",
    "lisa": "Library and information science requests (upper case); retrieve LISA abstracts.",
}
ROUTES = ("prior", "topk", "soft")
MATRICES = ("prior", "topk", "hybrid topk")


class PassageCounter:
    """Counts every passage any encoder encodes (the cache calls ``encode_passages`` on misses)."""

    def __init__(self) -> None:
        from ddr.modules import DDREncoder

        self.total = 0
        original = DDREncoder.encode_passages

        def counted(enc, texts, show_progress=False):
            self.total += len(texts)
            return original(enc, texts, show_progress)

        DDREncoder.encode_passages = counted


def slice_collections(src: Path, dst: Path, names: list[str], docs: int, train_q: int, test_q: int, seed: int = 0) -> None:
    """Small copies for a smoke run: a few judged queries per split and the docs they need."""
    from ddr.retrieval.beir import load_collection

    rng = random.Random(seed)
    for name in names:
        splits = {s: load_collection(src / name, s) for s in ("train", "test")}
        out = dst / name
        (out / "qrels").mkdir(parents=True)
        keep_docs, queries = set(), {}
        for split, n in (("train", train_q), ("test", test_q)):
            coll = splits[split]
            qids = sorted(q for q in coll.qrels if q in coll.queries)[:n]
            with open(out / "qrels" / f"{split}.tsv", "w") as fh:
                fh.write("query-id\tcorpus-id\tscore\n")
                for q in qids:
                    queries[q] = coll.queries[q]
                    for d, g in coll.qrels[q].items():
                        fh.write(f"{q}\t{d}\t{g}\n")
                        keep_docs.add(d)
        corpus = splits["test"].corpus
        others = [d for d in corpus if d not in keep_docs]
        keep_docs |= set(rng.sample(others, min(len(others), max(0, docs - len(keep_docs)))))
        with open(out / "corpus.jsonl", "w") as fh:
            for d in corpus:
                if d in keep_docs:
                    fh.write(json.dumps({"_id": d, **corpus[d]}) + "\n")
        with open(out / "queries.jsonl", "w") as fh:
            for q, t in queries.items():
                fh.write(json.dumps({"_id": q, "text": t}) + "\n")


def test_set(coll):
    from ddr.trainer.data import QuerySet

    qids, qtexts = coll.judged_queries()
    return QuerySet(qids, qtexts, {q: {d: g for d, g in coll.qrels[q].items() if g > 0} for q in qids})


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collections", default=",".join(ORDER), help="comma-separated, in the order they are added")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"], help="encoding precision (training stays fp32)")
    parser.add_argument("--general-epochs", type=int, default=1)
    parser.add_argument("--general-per-collection", type=int, default=400, help="triples per collection (balanced); 0: every query once")
    parser.add_argument("--general-title-pairs", type=int, default=200, help="title -> text pairs per collection with titles")
    parser.add_argument("--epochs", type=int, default=DomainTrainConfig().epochs, help="add-domain epochs (early stopping on held-out)")
    parser.add_argument("--patience", type=int, default=DomainTrainConfig().patience)
    parser.add_argument("--ft-epochs", type=int, default=3, help="query-encoder fine-tune epochs (best on held-out kept)")
    parser.add_argument("--quick", action="store_true", help="smoke run on small slices (figures meaningless)")
    parser.add_argument("--name", default="continual", help="results file stem")
    parser.add_argument("--cache", type=Path, default=None, help="seed the embedding cache from this folder (a kept cache of an earlier run)")
    parser.add_argument("--keep-cache", type=Path, default=None, help="copy this run's embedding cache out")
    return parser.parse_args()


def load(data: Path, names: list[str]) -> dict:
    from ddr.retrieval.beir import corpus_fingerprint, load_collection
    from ddr.retrieval.bm25 import bm25_run
    from ddr.trainer.data import train_and_heldout

    C = {}
    for n in names:
        coll = load_collection(data / n, "test")
        doc_ids, texts = coll.passage_texts()
        train, heldout, _ = train_and_heldout(data / n)
        test = test_set(coll)
        C[n] = SimpleNamespace(
            name=n, folder=data / n, doc_ids=doc_ids, texts=texts, fp=corpus_fingerprint(coll.corpus), coll=coll, test=test,
            train=train, heldout=heldout, passages=None, bm25=bm25_run(doc_ids, texts, test.ids, test.texts),
            bm25_nostem=bm25_run(doc_ids, texts, test.ids, test.texts, stem=False),
        )
    return C


def main() -> None:
    args = arguments()
    from ddr.modules import DDREncoder, EncoderConfig, load_backbone
    from ddr.registry import Registry
    from ddr.service import live
    from ddr.service.cache import IDENTITY, files_key, passage_embeddings
    from ddr.service.domain import add_domain
    from ddr.service.general import train_general

    names = [n for n in args.collections.split(",") if n]
    dtype = auto_dtype() if args.dtype == "auto" else args.dtype
    tmp = Path(tempfile.mkdtemp(prefix="ddr-continual-"))
    counter = PassageCounter()
    phases: dict[str, dict] = {}
    clock = time.perf_counter()

    def phase(name: str, start: float, encoded_before: int) -> None:
        phases[name] = {"seconds": round(time.perf_counter() - start, 1), "passages_encoded": counter.total - encoded_before}
        print(f"[{time.perf_counter() - clock:7.0f} s] {name}: {phases[name]}", flush=True)

    try:
        data = args.data
        if args.quick:
            data = tmp / "data"
            slice_collections(args.data, data, names, docs=300, train_q=40, test_q=20)
        reg = Registry.init(tmp / "home")
        if args.cache:
            shutil.copytree(args.cache, reg.home / "cache" / "embeddings", dirs_exist_ok=True)

        # 0. data and baselines --------------------------------------------------------------
        t0, e0 = time.perf_counter(), counter.total
        C = load(data, names)
        table: dict[str, dict[str, float]] = {n: {"BM25": ndcg(c.bm25, c), "BM25 (no stem)": ndcg(c.bm25_nostem, c)} for n, c in C.items()}
        phase("bm25", t0, e0)
        t0, e0 = time.perf_counter(), counter.total
        backbone = load_backbone()
        plain = DDREncoder(backbone, config=EncoderConfig(dtype=dtype))
        plain_passages, plain_runs = {}, {}
        for n, c in C.items():
            emb, _ = passage_embeddings(reg, plain, c.texts, general_key=IDENTITY, corpus=c.fp, progress=False)
            c.passages = plain_passages[n] = torch.from_numpy(emb)
            plain_runs[n] = dense_run(plain.encode_queries(c.test.texts, route="plain"), c)
            table[n].update({"plain": ndcg(plain_runs[n], c), "BM25 + plain": ndcg(hybrid(plain_runs[n], c), c),
                             "BM25 + plain (RRF)": ndcg(rrf(plain_runs[n], c), c)})
        phase("plain backbone (encode every corpus, score)", t0, e0)

        # 1. train-general ---------------------------------------------------------------------
        t0, e0 = time.perf_counter(), counter.total
        gcfg = GeneralTrainConfig(epochs=args.general_epochs, per_collection=args.general_per_collection, title_pairs=args.general_title_pairs)
        greport = train_general(reg, [str(C[n].folder) for n in names], config=gcfg, progress=False, echo=print, dtype=dtype)
        print(greport.table(), flush=True)
        phase("train-general", t0, e0)
        general_enc = DDREncoder(backbone, live.load_encoder(reg, live.ActiveState(None, greport.module), with_domains=False).general,
                                 config=EncoderConfig(dtype=dtype))
        for n, c in C.items():  # the candidate's passages were cached by train-general: nothing is encoded here
            emb, _ = passage_embeddings(reg, general_enc, c.texts, general_key=files_key(greport.module.files), corpus=c.fp, progress=False)
            c.passages = torch.from_numpy(emb)
            table[n]["general only"] = ndcg(dense_run(general_enc.encode_queries(c.test.texts, route="none"), c), c)
            if not greport.activated:
                c.passages = plain_passages[n]

        # 2. add-domain, one after another; the forgetting matrices ---------------------------
        dcfg = DomainTrainConfig(epochs=args.epochs, patience=args.patience)
        matrix: dict[str, list[dict]] = {r: [] for r in MATRICES}
        additions = []
        for k, n in enumerate(names):
            t0, e0 = time.perf_counter(), counter.total
            rep = add_domain(reg, n, data=str(C[n].folder), instruction=INSTRUCTIONS.get(n, ""), config=dcfg, progress=False, dtype=dtype)
            print(rep.table(), flush=True)
            phase(f"add-domain {n}", t0, e0)
            state = live.resolve(reg)
            enc = live.load_encoder(reg, state, dtype=dtype)
            additions.append(addition(rep, phases[f"add-domain {n}"], [d.name for d in state.domains]))
            for r, row in forgetting_rows(enc, C, names[: k + 1], [d.name for d in state.domains]).items():
                matrix[r].append(row)
            print(f"after {n}: " + "  ".join(f"{r}: {matrix[r][-1]}" for r in MATRICES), flush=True)

        # 3. final table, routing, parameters ---------------------------------------------------
        t0 = time.perf_counter()
        live_names = [d.name for d in live.resolve(reg).domains]
        final_rows(enc, C, names, live_names, table)
        router_eval = routing_report(enc, C, names, table)
        params = parameters(backbone, enc)
        phase("final evaluation", t0, counter.total)

        # 4. reference: full fine-tune of the query encoder, per collection ----------------------
        t0, e0 = time.perf_counter(), counter.total
        ft_curves, split = {}, {}
        for n, c in C.items():
            c_plain = SimpleNamespace(**{**vars(c), "passages": plain_passages[n]})
            ft, ft_curves[n] = finetune_query_encoder(backbone, c_plain, plain_passages[n], args.ft_epochs)
            ft_run = dense_run(ft.encode_queries(c.test.texts, route="plain"), c_plain)
            table[n]["query-encoder fine-tune"] = ndcg(ft_run, c)
            table[n]["BM25 + fine-tune"] = ndcg(hybrid(ft_run, c), c)
            split[n] = finetune_split(enc, c, ft_run, plain_runs[n])
            print(f"fine-tune {n}: held-out curve {ft_curves[n]} test {table[n]['query-encoder fine-tune']}; split {split[n]}", flush=True)
        phase("query-encoder fine-tune (reference)", t0, e0)

        # 5. leave-one-out zero-shot ------------------------------------------------------------
        t0, e0 = time.perf_counter(), counter.total
        zs = zero_shot(enc, C, names, table)
        phase("leave-one-out zero-shot", t0, e0)
        if args.keep_cache:
            shutil.copytree(reg.home / "cache" / "embeddings", args.keep_cache, dirs_exist_ok=True)
        out = results(args, names, C, dtype, gcfg, dcfg, greport, table, matrix, additions, router_eval, params, zs, ft_curves, split, phases, clock)
        stem = args.name + ("_quick" if args.quick else "")
        path = write(stem, out)
        md = markdown(out)
        (RESULTS / f"{stem}.md").write_text(md)
        plots(out, RESULTS / f"{stem}_matrix.png", RESULTS / f"{stem}_bars.png")
        print(md)
        print(f"wrote {path}; total {out['total_seconds']:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
