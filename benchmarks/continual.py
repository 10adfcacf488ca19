"""The continual-learning benchmark: seven domains added one after another, through the library.

    python benchmarks/continual.py [--data ../shared/data/beir] [--quick]

One registry home in a temp dir (SQLite), the default backbone, and the library calls the CLI
makes (``train-general``, then ``add-domain`` per collection, gate included):

1. baselines: BM25 (with and without stemming) and the plain backbone (its passages cached);
2. ``train-general`` on the union of the train splits (no unsupervised title->text pairs);
3. ``add-domain`` for each collection in ORDER; after each, every collection added so far is
   scored on its **test** split under prior, top-k and soft routing (the forgetting matrix);
4. final table: BM25, BM25 no stem, plain, general only, DDR-prior/topk/soft, and a full
   fine-tune of the query encoder per collection on the same training queries (the reference);
   router accuracy on test queries, parameters, wall time and passages encoded per phase;
5. leave-one-out zero-shot: each collection scored with top-k routing over the other six
   domains (router refit without it), against the plain backbone.

Every passage encoding goes through ``DDREncoder.encode_passages``, which this script counts, so
"adding a domain encodes no passage of an earlier domain" is checked, not assumed. Writes
``benchmarks/results/continual.json``, ``continual.md`` and two PNG plots.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, RESULTS, machine, write
from continual_report import checks, markdown, plots

ORDER = ["scifact", "nfcorpus", "cranfield", "cisi", "cacm", "npl", "lisa"]
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


def score(queries: torch.Tensor, c) -> float:
    from ddr.trainer.domain import rank_and_score

    return round(100 * rank_and_score(queries, c.passages, c.doc_ids, c.test), 2)


def finetune_query_encoder(backbone, c, passages, epochs: int, lr: float = 2e-5, batch: int = 32, temperature: float = 0.05, seed: int = 0):
    """Full fine-tune of a copy of the query encoder (passages fixed), the same multi-positive
    InfoNCE over the whole corpus as the domain trainer, best epoch on the same held-out queries."""
    from ddr.modules import DDREncoder
    from ddr.trainer.domain import rank_and_score
    from ddr.trainer.losses import multi_positive_info_nce

    model = copy.deepcopy(backbone.model)
    enc = DDREncoder(type(backbone)(model, backbone.tokenizer, backbone.pooling, backbone.spec))
    doc_index = {d: i for i, d in enumerate(c.doc_ids)}
    positives = [[doc_index[d] for d in c.train.qrels[q] if d in doc_index] for q in c.train.ids]
    rows = [i for i, p in enumerate(positives) if p]
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)

    def heldout() -> float:
        model.eval()
        return rank_and_score(enc.encode_queries(c.heldout.texts, route="plain"), passages, c.doc_ids, c.heldout)

    best, best_state, curve = heldout(), copy.deepcopy(model.state_dict()), []
    curve.append(best)
    for _ in range(epochs):
        model.train()
        for p in model.parameters():
            p.requires_grad_(True)
        order = [rows[i] for i in torch.randperm(len(rows), generator=gen).tolist()]
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            b = backbone.tokenizer([c.train.texts[i] for i in idx], truncation=True, max_length=256, padding=True, return_tensors="pt")
            q = backbone.pooling(model(**b).last_hidden_state, b["attention_mask"])
            loss = multi_positive_info_nce(q, passages, [positives[i] for i in idx], temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
        for p in model.parameters():
            p.requires_grad_(False)
        curve.append(heldout())
        if curve[-1] > best:
            best, best_state = curve[-1], copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    model.eval()
    return enc, [round(100 * x, 2) for x in curve]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--collections", default=",".join(ORDER), help="comma-separated, in the order they are added")
    parser.add_argument("--general-epochs", type=int, default=1)
    parser.add_argument("--general-max-steps", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10, help="add-domain epochs (early stopping on held-out queries)")
    parser.add_argument("--ft-epochs", type=int, default=3, help="query-encoder fine-tune epochs (best on held-out kept)")
    parser.add_argument("--quick", action="store_true", help="smoke run on small slices (figures meaningless)")
    parser.add_argument("--name", default="continual", help="results file stem")
    parser.add_argument("--cache", type=Path, default=None, help="seed the embedding cache from this folder (a kept cache of an earlier run)")
    args = parser.parse_args()

    from ddr.modules import DDREncoder
    from ddr.registry import Registry
    from ddr.retrieval.beir import corpus_fingerprint, load_collection
    from ddr.retrieval.bm25 import bm25_run
    from ddr.retrieval.metrics import evaluate as ir_eval
    from ddr.service import live, routing
    from ddr.service.cache import IDENTITY, files_key, passage_embeddings
    from ddr.service.domain import add_domain
    from ddr.service.general import train_general
    from ddr.trainer.config import DomainTrainConfig, GeneralTrainConfig
    from ddr.trainer.data import train_and_heldout

    names = [n for n in args.collections.split(",") if n]
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
        C: dict[str, SimpleNamespace] = {}
        for n in names:
            coll = load_collection(data / n, "test")
            doc_ids, texts = coll.passage_texts()
            train, heldout, _ = train_and_heldout(data / n)
            C[n] = SimpleNamespace(
                name=n, folder=data / n, doc_ids=doc_ids, texts=texts, fp=corpus_fingerprint(coll.corpus), coll=coll,
                test=test_set(coll), train=train, heldout=heldout, passages=None,
            )
        table: dict[str, dict[str, float]] = {n: {} for n in names}
        for n, c in C.items():
            qids, qtexts = c.coll.judged_queries()
            for label, stem in (("BM25", True), ("BM25 (no stem)", False)):
                run = bm25_run(c.doc_ids, c.texts, qids, qtexts, stem=stem)
                table[n][label] = round(100 * ir_eval(c.coll.qrels, run)["nDCG@10"], 2)
        phase("bm25", t0, e0)

        t0, e0 = time.perf_counter(), counter.total
        from ddr.modules import load_backbone

        backbone = load_backbone()
        plain = DDREncoder(backbone)
        plain_passages = {}
        for n, c in C.items():
            emb, _ = passage_embeddings(reg, plain, c.texts, general_key=IDENTITY, corpus=c.fp, progress=False)
            plain_passages[n] = torch.from_numpy(emb)
            c.passages = plain_passages[n]
            table[n]["plain"] = score(plain.encode_queries(c.test.texts, route="plain"), c)
        phase("plain backbone (encode every corpus, score)", t0, e0)

        # 1. train-general ---------------------------------------------------------------------
        t0, e0 = time.perf_counter(), counter.total
        gcfg = GeneralTrainConfig(epochs=args.general_epochs, max_steps=args.general_max_steps)
        greport = train_general(reg, [str(C[n].folder) for n in names], config=gcfg, progress=False, echo=print)
        print(greport.table(), flush=True)
        phase("train-general", t0, e0)
        general_key = files_key(greport.module.files)
        general_enc = DDREncoder(backbone, live.load_encoder(reg, live.ActiveState(None, greport.module), with_domains=False).general)
        for n, c in C.items():  # the candidate's passages were cached by train-general: nothing is encoded here
            emb, _ = passage_embeddings(reg, general_enc, c.texts, general_key=general_key, corpus=c.fp, progress=False)
            p = torch.from_numpy(emb)
            c.passages = p
            table[n]["general only"] = score(general_enc.encode_queries(c.test.texts, route="none"), c)
            if not greport.activated:
                c.passages = plain_passages[n]

        # 2. add-domain, one after another; the forgetting matrix -----------------------------
        matrix: dict[str, list[dict]] = {r: [] for r in ROUTES}
        additions = []
        for k, n in enumerate(names):
            t0, e0 = time.perf_counter(), counter.total
            rep = add_domain(reg, n, data=str(C[n].folder), instruction=INSTRUCTIONS.get(n, ""), config=DomainTrainConfig(epochs=args.epochs), progress=False)
            print(rep.table(), flush=True)
            phase(f"add-domain {n}", t0, e0)
            state = live.resolve(reg)
            enc = live.load_encoder(reg, state)
            live_names = [d.name for d in state.domains]
            additions.append({
                "domain": n, "activated": rep.activated, "reasons": rep.reasons, "router_version": rep.router_version,
                "best_epoch": rep.module.metrics["best_epoch"], "heldout_curve": [round(100 * x, 2) for x in rep.module.metrics["heldout_curve"]],
                "seconds": phases[f"add-domain {n}"]["seconds"], "passages_encoded": phases[f"add-domain {n}"]["passages_encoded"],
                "live": live_names,
            })
            for r in ROUTES:
                row = {}
                for m in names[: k + 1]:
                    c = C[m]
                    if r == "prior":
                        route = f"prior:{m}" if m in live_names else "none"
                    elif enc.router is None:
                        route = "none"
                    else:
                        route = r
                    row[m] = score(enc.encode_queries(c.test.texts, route=route), c)
                matrix[r].append(row)
            print(f"after {n}: " + "  ".join(f"{r}: {matrix[r][-1]}" for r in ROUTES), flush=True)

        # 3. final table, router accuracy, parameters -----------------------------------------
        t0 = time.perf_counter()
        for r in ROUTES:
            for n in names:
                table[n][f"DDR-{r}"] = matrix[r][-1][n]
        router_eval = {"correct": 0, "abstained": 0, "queries": 0, "per_collection": {}}
        if enc.router is not None:
            for n in names:
                batch = enc.tokenize(C[n].test.texts, enc.config.query_max_length)
                with torch.no_grad():
                    x = enc.token_mean(batch["input_ids"], batch["attention_mask"])
                    pred = enc.router.logits(x).argmax(-1)
                    abst = enc.router.abstains(x)
                truth = enc.router.domains.index(n) if n in enc.router.domains else -1
                ok = int((pred == truth).sum())
                router_eval["per_collection"][n] = {"accuracy": round(100 * ok / len(pred), 1), "abstained": round(100 * float(abst.float().mean()), 1)}
                router_eval["correct"] += ok
                router_eval["abstained"] += int(abst.sum())
                router_eval["queries"] += len(pred)
        router_eval["accuracy"] = round(100 * router_eval["correct"] / max(1, router_eval["queries"]), 1)
        live_rows = [(n, C[n].test) for n in names if enc.router is not None and n in enc.router.domains]
        n_live = sum(len(t) for _, t in live_rows)
        router_eval["accuracy_live_domains"] = round(
            sum(router_eval["per_collection"][n]["accuracy"] * len(t) for n, t in live_rows) / max(1, n_live), 1
        )
        router_eval["abstained_pct"] = round(100 * router_eval["abstained"] / max(1, router_eval["queries"]), 1)
        backbone_params = sum(p.numel() for p in backbone.model.parameters())
        module_params = {m.name: sum(p.numel() for p in m.parameters()) for m in enc.domain_modules.values()}
        general_params = sum(p.numel() for p in enc.general.parameters()) if enc.general is not None else 0
        router_params = sum(p.numel() for p in enc.router.parameters()) if enc.router is not None else 0
        params = {
            "backbone": backbone_params,
            "general": general_params,
            "per_domain": module_params,
            "router": router_params,
            "per_domain_pct_of_backbone": round(100 * max(module_params.values(), default=0) / backbone_params, 3),
            "total_trainable": general_params + sum(module_params.values()) + router_params,
        }
        params["total_pct_of_backbone"] = round(100 * params["total_trainable"] / backbone_params, 3)
        phase("final evaluation", t0, counter.total)

        # 4. reference: full fine-tune of the query encoder, per collection ----------------------
        t0, e0 = time.perf_counter(), counter.total
        ft_curves = {}
        for n, c in C.items():
            c_plain = SimpleNamespace(**{**vars(c), "passages": plain_passages[n]})
            ft, ft_curves[n] = finetune_query_encoder(backbone, c_plain, plain_passages[n], args.ft_epochs)
            table[n]["query-encoder fine-tune"] = score(ft.encode_queries(c.test.texts, route="plain"), c_plain)
            print(f"fine-tune {n}: held-out curve {ft_curves[n]} test {table[n]['query-encoder fine-tune']}", flush=True)
        phase("query-encoder fine-tune (reference)", t0, e0)

        # 5. leave-one-out zero-shot ------------------------------------------------------------
        t0, e0 = time.perf_counter(), counter.total
        zero_shot = {}
        for n in names:
            others = [m for m in enc.domains if m != n]
            if not others:
                continue
            sets = [SimpleNamespace(name=m, train=C[m].train) for m in others]
            router = routing.fit(enc, None, sets, kind="linear")
            loo = DDREncoder(backbone, enc.general, [enc.domain_modules[m] for m in others], router, enc.config)
            c = C[n]
            q, w = loo.encode_queries(c.test.texts, route="topk", return_weights=True)
            zero_shot[n] = {
                "plain": table[n]["plain"],
                "general only": table[n]["general only"] if greport.activated else table[n]["plain"],
                "DDR-topk (never added)": score(q, c),
                "abstained_pct": round(100 * float((w.sum(-1) == 0).float().mean()), 1),
            }
            zero_shot[n]["delta_vs_plain"] = round(zero_shot[n]["DDR-topk (never added)"] - zero_shot[n]["plain"], 2)
            print(f"zero-shot {n}: {zero_shot[n]}", flush=True)
        phase("leave-one-out zero-shot", t0, e0)

        systems = ["BM25", "BM25 (no stem)", "plain", "general only", "DDR-prior", "DDR-topk", "DDR-soft", "query-encoder fine-tune"]
        average = {s: round(sum(table[n][s] for n in names) / len(names), 2) for s in systems}
        total = round(time.perf_counter() - clock, 1)
        out = {
            "benchmark": "continual",
            "command": "python benchmarks/continual.py" + (" --quick" if args.quick else "") + (" --cache DIR" if args.cache else ""),
            "cache_seeded": bool(args.cache),
            "quick": args.quick,
            "order": names,
            "machine": machine(),
            "settings": {
                "general": gcfg.to_dict(), "domain": DomainTrainConfig(epochs=args.epochs).to_dict(), "ft_epochs": args.ft_epochs,
                "ft_lr": 2e-5, "dtype": "float32", "passage_max_length": plain.config.passage_max_length,
            },
            "general": {
                "activated": greport.activated, "reasons": greport.reasons, "steps": greport.steps,
                "heldout": [{"collection": s.name, "before": round(100 * s.before, 2), "after": round(100 * s.after, 2), "delta": round(s.delta, 2)} for s in greport.scores],
            },
            "table": table,
            "average": average,
            "forgetting_matrix": matrix,
            "additions": additions,
            "router_test": router_eval,
            "parameters": params,
            "zero_shot": zero_shot,
            "finetune_heldout_curves": ft_curves,
            "phases": phases,
            "total_seconds": total,
            "passages_in_collections": sum(len(c.doc_ids) for c in C.values()),
        }
        out["checks"] = checks(out)
        stem = args.name + ("_quick" if args.quick else "")
        path = write(stem, out)
        md = markdown(out)
        (RESULTS / f"{stem}.md").write_text(md)
        plots(out, RESULTS / f"{stem}_matrix.png", RESULTS / f"{stem}_bars.png")
        print(md)
        print(f"wrote {path}; total {total:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
