"""Router input representation: accuracy vs cost, and abstention on unseen collections.

For each input (``tokens``: mean input word embedding, no transformer pass; ``general``: the
query embedding under the general prefix, one extra forward pass), fit a router on the train
queries of all collections and measure domain accuracy on their test queries. Then, leave one
collection out: fit on the others and count, for several abstain quantiles, how many of the
held-out collection's test queries the router abstains on (wanted) against how many known-domain
test queries it abstains on (not wanted); also the AUROC of the router's confidence for telling
the two apart.

    python -m benchmarks.quality.router_input [--data ../shared/data/beir]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks.common import DEFAULT_DATA, machine, write


def query_texts(folder: Path, split: str) -> list[str]:
    from ddr.retrieval.beir import load_collection

    coll = load_collection(folder, split)
    return coll.judged_queries()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--quantiles", default="0.02,0.05,0.1")
    args = parser.parse_args()

    from ddr.modules import DDREncoder, load_backbone
    from ddr.retrieval.beir import collection_dirs
    from ddr.trainer.router import fit_router

    dirs = collection_dirs(args.data)
    names = [d.name for d in dirs]
    texts = {split: [query_texts(d, split) for d in dirs] for split in ("train", "test")}
    encoder = DDREncoder(load_backbone())

    def tokens(batch: list[str]) -> torch.Tensor:
        b = encoder.tokenize(batch, encoder.config.query_max_length)
        with torch.no_grad():
            return encoder.token_mean(b["input_ids"], b["attention_mask"])

    def general(batch: list[str]) -> torch.Tensor:
        return encoder.encode_queries(batch, route="plain")

    reps, seconds = {}, {}
    for name, fn in (("tokens", tokens), ("general", general)):
        start = time.perf_counter()
        reps[name] = {
            split: [torch.cat([fn(group[i : i + 256]) for i in range(0, len(group), 256)]) for group in texts[split]]
            for split in ("train", "test")
        }
        n = sum(len(g) for s in texts.values() for g in s)
        seconds[name] = (time.perf_counter() - start) / n * 1000

    results = {"benchmark": "router_input", "collections": names, "machine": machine(), "inputs": {}}
    for name in reps:
        train = reps[name]["train"]
        test = reps[name]["test"]
        x = torch.cat(train)
        y = torch.cat([torch.full((len(t),), i) for i, t in enumerate(train)])
        router = fit_router(x, y, names, input=name)
        per = {}
        correct = total = 0
        for i, t in enumerate(test):
            with torch.no_grad():
                pred = router.logits(t).argmax(-1)
            per[names[i]] = round((pred == i).float().mean().item(), 3)
            correct += int((pred == i).sum())
            total += len(t)
        loo = {}
        quantiles = [float(q) for q in args.quantiles.split(",")]
        for i, held in enumerate(names):
            keep = [j for j in range(len(names)) if j != i]
            xs = torch.cat([train[j] for j in keep])
            ys = torch.cat([torch.full((len(train[j]),), k) for k, j in enumerate(keep)])
            r = fit_router(xs, ys, [names[j] for j in keep], input=name, abstain_quantile=0)
            with torch.no_grad():
                train_conf = r.confidence(xs)
                known = r.confidence(torch.cat([test[j] for j in keep]))
                unseen = r.confidence(test[i])
            auroc = ((known[:, None] > unseen[None, :]).float().mean()).item()
            loo[held] = {"auroc": round(auroc, 3)}
            for q in quantiles:
                th = torch.quantile(train_conf, q)
                loo[held][f"q{q}"] = {
                    "unseen_abstained": round((unseen < th).float().mean().item(), 3),
                    "known_abstained": round((known < th).float().mean().item(), 3),
                }
        results["inputs"][name] = {
            "ms_per_query": round(seconds[name], 3),
            "test_accuracy": round(correct / total, 4),
            "test_accuracy_macro": round(sum(per.values()) / len(per), 4),
            "per_collection_accuracy": per,
            "leave_one_out_abstention": loo,
        }
        print(
            f"{name:8s} {seconds[name]:7.3f} ms/query  accuracy {correct / total:.3f} "
            f"(macro {sum(per.values()) / len(per):.3f})  per collection {per}"
        )
        for held, v in loo.items():
            cells = "  ".join(f"q={q}: unseen {v[f'q{q}']['unseen_abstained']:.2f} known {v[f'q{q}']['known_abstained']:.2f}" for q in quantiles)
            print(f"   leave out {held:10s} AUROC {v['auroc']:.3f}  {cells}")
        mean_auroc = sum(v["auroc"] for v in loo.values()) / len(loo)
        results["inputs"][name]["mean_auroc"] = round(mean_auroc, 3)
        for q in quantiles:
            u = sum(v[f"q{q}"]["unseen_abstained"] for v in loo.values()) / len(loo)
            k = sum(v[f"q{q}"]["known_abstained"] for v in loo.values()) / len(loo)
            results["inputs"][name][f"mean_abstained_q{q}"] = {"unseen": round(u, 3), "known": round(k, 3)}
            print(f"   mean over held-out collections, q={q}: unseen abstained {u:.3f}, known abstained {k:.3f}")
        print(f"   mean AUROC {mean_auroc:.3f}")
    print(f"wrote {write('router_input', results)}")


if __name__ == "__main__":
    main()
