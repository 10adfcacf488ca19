"""How often does each gate rule refuse a harmless addition, and let a harmful one through?

Built from the stream's own data (``python -m benchmarks.quality.quality_lab --dump DIR``: every held-out and test query's top 100
under general-only and under each of the seven domain modules, and every query's router input).
A *decision* is an addition to a live set of domains: before, a router fitted over the live domains;
after, one fitted over them plus the new domain. The gate sees the earlier domains' held-out queries
(per query, before and after); the truth is what the same change does to their test queries: the
addition is *harmful* if some earlier domain's test nDCG@10 drops by more than the threshold.

- natural additions: the seven collections in several seeded orders, each prefix of an order plus
  the next collection;
- constructed harm: a natural addition after which a known share (10 %, 25 %, 50 %, 100 %) of one
  earlier domain's queries (held-out and test alike) is sent to another domain's module;
- constructed benign changes: a natural addition after which a share of one earlier domain's queries
  is sent back to its own module (a router that got better).

    python -m benchmarks.sweeps.gate_sim --lab /work/lab-cache [--orders 6]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch

from benchmarks.common import machine, write

THRESHOLD = 0.5


def load(folder: Path):
    from safetensors.torch import load_file

    from ddr.retrieval.metrics import per_query

    runs = json.loads((folder / "runs.json").read_text())
    reps = load_file(str(folder / "reps.safetensors"))
    names = list(runs)
    ndcg = {}  # ndcg[name][split][route] = [per query, in id order]
    for n in names:
        ndcg[n] = {"train": {r: [v[q] for q in runs[n]["train"]["ids"]] for r, v in runs[n]["train"]["ndcg"].items()}}
        for split in ("heldout", "test"):
            e = runs[n][split]
            ndcg[n][split] = {r: [per_query(e["qrels"], run)[q] for q in e["ids"]] for r, run in e["runs"].items()}
    return names, ndcg, reps


def routers_choice(names, live, reps, split_reps):
    """Route of every query of ``split_reps`` (name -> reps) under a router fitted on the live domains' training queries."""
    from ddr.trainer.router import fit_router

    x = torch.cat([reps[f"{n}/train"] for n in live])
    y = torch.cat([torch.full((len(reps[f"{n}/train"]),), i) for i, n in enumerate(live)])
    router = fit_router(x, y, live)
    out = {}
    for n, r in split_reps.items():
        probs = router(r)
        out[n] = ["none" if float(p.sum()) == 0 else f"prior:{live[int(p.argmax())]}" for p in probs]
    return out


def scores(ndcg, name, split, choice):
    return [ndcg[name][split][route][i] for i, route in enumerate(choice)]


def decisions(names, ndcg, reps, orders: int, seed: int = 0):
    rng = random.Random(seed)
    out = []
    for o in range(orders):
        order = names[:]
        rng.shuffle(order)
        for k in range(2, len(order) + 1):
            live, new = order[: k - 1], order[k - 1]
            earlier = {}
            for split in ("heldout", "test"):
                sr = {n: reps[f"{n}/{split}"] for n in live}
                before = routers_choice(names, live, reps, sr) if len(live) > 1 else {n: [f"prior:{live[0]}"] * len(sr[n]) for n in live}
                after = routers_choice(names, [*live, new], reps, sr)
                earlier[split] = (before, after)
            base = {"order": o, "live": live, "added": new}
            out.append({**base, "kind": "natural", **_rows(ndcg, live, earlier)})
            victim = rng.choice(live)
            wrong = rng.choice([n for n in names if n != victim])
            for share in (0.1, 0.25, 0.5, 1.0):
                out.append({**base, "kind": f"misroute {share:.0%} of {victim} to {wrong}",
                            **_rows(ndcg, live, _reroute(earlier, victim, f"prior:{wrong}", share, rng.random()))})
            out.append({**base, "kind": f"route 50% of {victim} home",
                        **_rows(ndcg, live, _reroute(earlier, victim, f"prior:{victim}", 0.5, rng.random()))})
    return out


def _reroute(earlier, victim, route, share, salt):
    out = {}
    for split, (before, after) in earlier.items():
        changed = dict(after)
        changed[victim] = [route if random.Random(f"{salt}-{split}-{i}").random() < share else r for i, r in enumerate(after[victim])]
        out[split] = (before, changed)
    return out


def _rows(ndcg, live, earlier):
    rows = {}
    for split, (before, after) in earlier.items():
        rows[split] = {n: (scores(ndcg, n, split, before[n]), scores(ndcg, n, split, after[n])) for n in live}
    truth = {n: 100 * (sum(a) - sum(b)) / len(a) for n, (b, a) in rows["test"].items()}
    return {"heldout": rows["heldout"], "test_delta": truth, "harmful": min(truth.values()) < -THRESHOLD}


def verdict(d, rule):
    from ddr.service.gate import compare, judge

    rows = [compare(n, b, a) for n, (b, a) in d["heldout"].items()]
    if rule in EXTRA:
        return EXTRA[rule](rows)
    return judge(rows, threshold=THRESHOLD, rule=rule).passed


def _significant_at(confidence):
    from ddr.service.gate import judge

    return lambda rows: judge(rows, threshold=THRESHOLD, rule="pooled", confidence=confidence).passed


def _shrunk(rows, tau2=None):
    """Empirical Bayes: each row's drop shrunk toward the rows' mean drop by its noise; refuse past the threshold."""
    drops = [-r.delta for r in rows]
    ses = [r.stderr if r.stderr is not None else 0.0 for r in rows]
    mean = sum(drops) / len(drops)
    if tau2 is None:
        tau2 = max(0.0, sum((d - mean) ** 2 for d in drops) / max(1, len(drops) - 1) - sum(se**2 for se in ses) / len(ses))
    for d, se in zip(drops, ses):
        w = tau2 / (tau2 + se**2) if tau2 + se**2 > 0 else 1.0
        if w * d + (1 - w) * mean > THRESHOLD:
            return False
    return True


EXTRA = {
    "pooled@0.75": _significant_at(0.75),
    "pooled@0.60": _significant_at(0.60),
    "shrunk(tau=1pt)": lambda rows: _shrunk(rows, 1.0),
    "shrunk(tau=2pt)": lambda rows: _shrunk(rows, 4.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", type=Path, required=True)
    parser.add_argument("--orders", type=int, default=6)
    args = parser.parse_args()

    from ddr.service.gate import RULES

    names, ndcg, reps = load(args.lab)
    ds = decisions(names, ndcg, reps, args.orders)
    summary = {}
    for rule in (*RULES, *EXTRA):
        passed = [verdict(d, rule) for d in ds]
        harmful = [d["harmful"] for d in ds]
        benign_n, harm_n = harmful.count(False), harmful.count(True)
        false_refusals = sum((not p) and (not h) for p, h in zip(passed, harmful))
        missed = sum(p and h for p, h in zip(passed, harmful))
        summary[rule] = {
            "decisions": len(ds), "benign": benign_n, "harmful": harm_n,
            "false_refusals": false_refusals, "false_refusal_rate": round(100 * false_refusals / max(1, benign_n), 1),
            "missed_harm": missed, "missed_harm_rate": round(100 * missed / max(1, harm_n), 1),
        }
        s = summary[rule]
        print(f"{rule:8s} decisions {s['decisions']} (benign {benign_n}, harmful {harm_n}): false refusals {false_refusals} "
              f"({s['false_refusal_rate']}%), missed harm {missed} ({s['missed_harm_rate']}%)")
    by_kind = {}
    for d in ds:
        kind = d["kind"].split(" of ")[0]
        k = by_kind.setdefault(kind, {"n": 0, "harmful": 0, **{r: 0 for r in (*RULES, *EXTRA)}})
        k["n"] += 1
        k["harmful"] += d["harmful"]
        for rule in (*RULES, *EXTRA):
            k[rule] += verdict(d, rule)
    print("passed per kind:", json.dumps(by_kind))
    slim = [{k: v for k, v in d.items() if k != "heldout"} | {"n_heldout": {n: len(b) for n, (b, _) in d["heldout"].items()}} for d in ds]
    write("gate_sim", {"benchmark": "gate_sim", "machine": machine(), "threshold": THRESHOLD, "summary": summary, "by_kind": by_kind,
                       "decisions": slim})


if __name__ == "__main__":
    main()
