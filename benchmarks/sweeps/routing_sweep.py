"""Routing defaults by measurement, on held-out queries only: top-k's k and the abstain quantile.

Why this exists: in the first continual run the add-domain gate refused five of six additions,
each time because scifact's held-out score under top-k dropped 0.5-0.9 points when a second
domain appeared (a one-domain router routes every query to it; with two, some scifact queries are
mixed with or sent to the other module, or abstain). This script trains the seven domain modules
once (cached passages; deterministic, so the same modules as the continual run), then, for every
stage of the stream (the first k domains live), refits the router with each abstain quantile and
scores every live domain's held-out queries under top-1, top-2 and soft routing; and, leaving each
collection out, how much routing its held-out queries to the other domains costs against
general-only (the zero-shot question).

    python -m benchmarks.sweeps.routing_sweep [--data ../shared/data/beir] [--cache DIR]

``--cache`` seeds the registry's embedding cache from a folder of cached passage embeddings (e.g.
one kept from a continual run), so no corpus is encoded again.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import DEFAULT_DATA, ORDER, machine, write

ROUTES = ("topk:1", "topk:2", "soft")
QUANTILES = (0.0, 0.02, 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args()

    from ddr.modules import DDREncoder
    from ddr.registry import Registry
    from ddr.retrieval.scoring import rank_and_score
    from ddr.service import domain_data, live
    from ddr.service.domain import add_domain
    from ddr.trainer.router import fit_router

    tmp = Path(tempfile.mkdtemp(prefix="ddr-routing-"))
    t0 = time.perf_counter()
    try:
        reg = Registry.init(tmp / "home")
        if args.cache:
            shutil.copytree(args.cache, reg.home / "cache" / "embeddings", dirs_exist_ok=True)
        for n in ORDER:  # forced: every module goes live, so each stage below can be rebuilt
            add_domain(reg, n, data=str(args.data / n), force=True, progress=False)
        state = live.resolve(reg)
        enc = live.load_encoder(reg, state)
        sets = {n: domain_data.from_folder(reg, enc, n, str(args.data / n), general_key=state.general_key, progress=False) for n in ORDER}
        assert all(d.encoded == 0 for d in sets.values()) or not args.cache
        reps = {}
        for n, d in sets.items():
            batch = enc.tokenize(d.train.texts, enc.config.query_max_length)
            with torch.no_grad():
                reps[n] = enc.token_mean(batch["input_ids"], batch["attention_mask"])
        spec = dict(enc.backbone.spec.__dict__)

        def router_over(names, q):
            x = torch.cat([reps[n] for n in names])
            y = torch.cat([torch.full((len(reps[n]),), i) for i, n in enumerate(names)])
            return fit_router(x, y, names, backbone=spec, abstain_quantile=q)

        def held(encoder, n, route):
            d = sets[n]
            return 100 * rank_and_score(encoder.encode_queries(d.heldout.texts, route=route), d.passages, d.doc_ids, d.heldout)

        general_only = {n: held(DDREncoder(enc.backbone, config=enc.config), n, "none") for n in ORDER}
        prior = {n: held(enc, n, f"prior:{n}") for n in ORDER}
        stages = []
        for k in range(2, len(ORDER) + 1):
            names = ORDER[:k]
            for q in QUANTILES:
                cand = DDREncoder(enc.backbone, None, [enc.domain_modules[n] for n in names], router_over(names, q), enc.config)
                for route in ROUTES:
                    scores = {n: round(held(cand, n, route), 2) for n in names}
                    stages.append({"live": k, "added": names[-1], "abstain_quantile": q, "route": route, "heldout": scores})
                    drops = {n: round(prior[n] - s, 2) for n, s in scores.items()}
                    print(f"k={k} +{names[-1]:9s} q={q:.2f} {route:6s} worst drop vs prior {max(drops.values()):5.2f} ({max(drops, key=drops.get)})  "
                          f"mean {sum(scores.values()) / k:6.2f}", flush=True)
        zero = []
        for n in ORDER:
            others = [m for m in ORDER if m != n]
            for q in QUANTILES:
                cand = DDREncoder(enc.backbone, None, [enc.domain_modules[m] for m in others], router_over(others, q), enc.config)
                for route in ROUTES:
                    s = held(cand, n, route)
                    zero.append({"left_out": n, "abstain_quantile": q, "route": route, "heldout": round(s, 2), "delta_vs_general_only": round(s - general_only[n], 2)})
        summary = {}
        for q in QUANTILES:
            for route in ROUTES:
                rows = [s for s in stages if s["abstain_quantile"] == q and s["route"] == route]
                worst = max(prior[n] - v for s in rows for n, v in s["heldout"].items())
                final = next(s for s in rows if s["live"] == len(ORDER))["heldout"]
                zs = [z["delta_vs_general_only"] for z in zero if z["abstain_quantile"] == q and z["route"] == route]
                summary[f"{route} q={q}"] = {
                    "worst_drop_vs_prior_any_stage": round(worst, 2),
                    "final_mean_heldout": round(sum(final.values()) / len(final), 2),
                    "zero_shot_worst_delta": round(min(zs), 2),
                    "zero_shot_mean_delta": round(sum(zs) / len(zs), 2),
                }
        out = {
            "benchmark": "routing_sweep", "machine": machine(), "order": ORDER,
            "general_only_heldout": {n: round(v, 2) for n, v in general_only.items()},
            "prior_heldout": {n: round(v, 2) for n, v in prior.items()},
            "summary": summary, "stages": stages, "zero_shot": zero, "seconds": round(time.perf_counter() - t0, 1),
        }
        path = write("routing_sweep", out)
        print(f"{'config':18s} {'worst drop':>10s} {'final mean':>10s} {'zs worst':>9s} {'zs mean':>8s}   (held-out nDCG@10; prior mean {sum(prior.values()) / 7:.2f})")
        for k, v in summary.items():
            print(f"{k:18s} {v['worst_drop_vs_prior_any_stage']:10.2f} {v['final_mean_heldout']:10.2f} {v['zero_shot_worst_delta']:9.2f} {v['zero_shot_mean_delta']:8.2f}")
        print(f"wrote {path} in {out['seconds']:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
