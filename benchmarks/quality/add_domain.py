"""add-domain vs the alternatives a user has today, on one collection, in one run.

1. ``add-domain`` end to end through the library (fresh registry in a temp dir, SQLite): corpus
   encoding with the (identity) general prefix, query-side prefix training, router, gate, register.
2. Bi-encoder full fine-tune (the paper's "DR" baseline): one shared encoder, passages in the loop
   (in-batch negatives), same training queries and epochs, then the whole corpus re-encoded.
3. Query-encoder-only full fine-tune against the cached passages (the quality reference).

Test nDCG@10 is reported overall and split by whether the test query's relevant documents were
training positives (fine-tuning gains there are mostly memorisation).

    python -m benchmarks.quality.add_domain [--collection scifact] [--epochs 3]
"""

from __future__ import annotations

import argparse
import copy
import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import DEFAULT_DATA, machine, write
from benchmarks.quality.finetune import finetune


def split_scores(encode_q, passages, doc_ids, test, train_docs) -> dict:
    from ddr.retrieval.scoring import rank_and_score
    from ddr.trainer.data import QuerySet

    seen = [i for i, q in enumerate(test.ids) if set(test.qrels[q]) & train_docs]
    unseen = [i for i in range(len(test.ids)) if i not in set(seen)]
    out = {}
    for name, rows in (("all", list(range(len(test.ids)))), ("seen_docs", seen), ("unseen_docs", unseen)):
        qs = QuerySet([test.ids[i] for i in rows], [test.texts[i] for i in rows], {test.ids[i]: test.qrels[test.ids[i]] for i in rows})
        out[name] = round(100 * rank_and_score(encode_q(qs.texts), passages, doc_ids, qs), 2) if rows else None
        out[f"{name}_queries"] = len(rows)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collection", default="scifact")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from ddr.modules import DDREncoder, load_backbone
    from ddr.registry import Registry
    from ddr.retrieval.beir import load_collection
    from ddr.service.domain import add_domain
    from ddr.trainer.config import DomainTrainConfig
    from ddr.trainer.data import QuerySet, train_and_heldout

    folder = args.data / args.collection
    tmp = Path(tempfile.mkdtemp(prefix="ddr-bench-"))
    try:
        reg = Registry.init(tmp / "home")
        cfg = DomainTrainConfig(epochs=args.epochs)
        t0 = time.perf_counter()
        report = add_domain(reg, args.collection, data=str(folder), config=cfg, progress=False, force=True)
        t_add = time.perf_counter() - t0

        coll = load_collection(folder, "test")
        doc_ids, doc_texts = coll.passage_texts()
        qids, qtexts = coll.judged_queries()
        test = QuerySet(qids, qtexts, {q: {d: g for d, g in coll.qrels[q].items() if g > 0} for q in qids})
        train, _, _ = train_and_heldout(folder)
        train_docs = {d for q in train.ids for d in train.qrels[q]}
        backbone = load_backbone()
        plain = DDREncoder(backbone)
        from ddr.retrieval.beir import corpus_fingerprint
        from ddr.service import live
        from ddr.service.cache import IDENTITY, passage_embeddings

        # add-domain cached the plain (identity-general) passages: reuse them, do not re-encode
        emb, encoded = passage_embeddings(reg, plain, doc_texts, general_key=IDENTITY, corpus=corpus_fingerprint(coll.corpus), progress=False)
        assert encoded == 0
        passages = torch.from_numpy(emb)
        doc_index = {d: i for i, d in enumerate(doc_ids)}

        ddr_enc = live.load_encoder(reg, live.resolve(reg))
        results = {
            "plain": split_scores(lambda t: plain.encode_queries(t, route="plain"), passages, doc_ids, test, train_docs),
            "add_domain_prior": split_scores(lambda t: ddr_enc.encode_queries(t, route=f"prior:{args.collection}"), passages, doc_ids, test, train_docs),
        }

        model = copy.deepcopy(backbone.model)
        model.set_attn_implementation("sdpa")
        t0 = time.perf_counter()
        finetune(model, backbone.tokenizer, backbone.pooling, train, doc_texts, doc_index, passages, args.epochs, biencoder=True)
        ft_passages = DDREncoder(type(backbone)(model, backbone.tokenizer, backbone.pooling, backbone.spec)).encode_passages(doc_texts)
        t_bi = time.perf_counter() - t0
        bi = DDREncoder(type(backbone)(model, backbone.tokenizer, backbone.pooling, backbone.spec))
        results["biencoder_finetune"] = split_scores(lambda t: bi.encode_queries(t, route="plain"), ft_passages, doc_ids, test, train_docs)

        qmodel = copy.deepcopy(backbone.model)
        qmodel.set_attn_implementation("sdpa")
        t0 = time.perf_counter()
        finetune(qmodel, backbone.tokenizer, backbone.pooling, train, doc_texts, doc_index, passages, args.epochs, biencoder=False)
        t_q = time.perf_counter() - t0
        qenc = DDREncoder(type(backbone)(qmodel, backbone.tokenizer, backbone.pooling, backbone.spec))
        results["query_encoder_finetune"] = split_scores(lambda t: qenc.encode_queries(t, route="plain"), passages, doc_ids, test, train_docs)

        out = {
            "benchmark": "add_domain",
            "collection": args.collection,
            "epochs": args.epochs,
            "machine": machine(),
            "seconds": {"add_domain": round(t_add, 1), "biencoder_finetune_and_reencode": round(t_bi, 1), "query_encoder_finetune": round(t_q, 1)},
            "ratio_add_domain_vs_biencoder": round(t_add / t_bi, 3),
            "target_ratio": 0.25,
            "test_ndcg@10": results,
            "add_domain_best_epoch": report.module.metrics["best_epoch"],
            "add_domain_heldout_curve": report.module.metrics["heldout_curve"],
        }
        path = write("add_domain", out)
        for k, v in out["seconds"].items():
            print(f"{k:35s} {v:8.1f} s")
        print(f"add-domain / bi-encoder fine-tune: {out['ratio_add_domain_vs_biencoder']:.3f}x (target <= 0.25x)")
        for k, v in results.items():
            print(f"{k:25s} test nDCG@10 {v['all']}  (seen docs {v['seen_docs']} n={v['seen_docs_queries']}, unseen {v['unseen_docs']} n={v['unseen_docs_queries']})")
        print(f"wrote {path}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
