"""Does the gate decide the same from the data each version carries as from the full corpora?

add-domain scores every earlier live domain's held-out queries against that domain's *gate data*
(its judged passages plus each held-out query's top-100 under general-only and under its own
module, stored with the version) instead of its whole corpus, so no earlier corpus is needed on
disk. This runs the seven-collection stream through add-domain (forced live, so every step has all
earlier domains to score), and at every step recomputes the gate's rows for the same candidate
against the full corpora. It reports, per step and per earlier domain, both figures and their
difference, whether the two verdicts agree, and pool sizes.

    python -m benchmarks.quality.gate_data [--data ../shared/data/beir] [--cache DIR] [--keep-cache DIR]

``--cache`` seeds the embedding cache (e.g. kept from an earlier run: same keys, same vectors);
``--keep-cache`` copies this run's cache out for the next one.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import DEFAULT_DATA, ORDER, machine, write


def _candidate(reg, report):
    """The registered (maybe not live) candidate of one add-domain, as an encoder."""
    from ddr.registry import Ref
    from ddr.service import live

    rv = reg.router_version(f"router@{report.router_version}")
    general = reg.module_version(Ref("general", "general", version=rv.general_version)) if rv.general_version else None
    domains = tuple(reg.module_version(Ref("domain", n, version=v)) for n, v in rv.domains)
    return live.load_encoder(reg, live.ActiveState(rv, general, domains))


def _step(reg, name: str, folder: Path, data: Path) -> dict:
    """One add-domain, then the same gate recomputed on full corpora."""
    from ddr.service import domain_data, gate, live
    from ddr.service.domain import add_domain, score

    state = live.resolve(reg)
    before_enc = live.load_encoder(reg, state)
    t0 = time.perf_counter()
    report = add_domain(reg, name, data=str(folder), force=True, progress=False)
    seconds = time.perf_counter() - t0
    candidate = _candidate(reg, report)
    rows_stored = report.scores
    rows_full, per_domain = [rows_stored[0]], []
    for s in rows_stored[1:-1]:
        full = domain_data.from_folder(reg, before_enc, s.name, str(data / s.name), general_key=state.general_key, progress=False)
        stored = domain_data.from_version(reg, before_enc, next(mv for mv in state.domains if mv.name == s.name),
                                          general_key=state.general_key, progress=False)
        before = score(before_enc, full, "topk" if before_enc.router else "none")
        after = score(candidate, full, "topk")
        rows_full.append(gate.Score(s.name, before, after, s.note))
        per_domain.append({
            "domain": s.name, "heldout_queries": len(full.heldout), "pool": len(stored.doc_ids), "corpus": len(full.doc_ids),
            "stored": {"before": round(100 * s.before, 2), "after": round(100 * s.after, 2), "delta": round(s.delta, 2)},
            "full": {"before": round(100 * before, 2), "after": round(100 * after, 2), "delta": round(100 * (after - before), 2)},
        })
    v_stored, v_full = gate.judge(rows_stored), gate.judge(rows_full)
    return {
        "added": name, "add_domain_seconds": round(seconds, 1), "passages_encoded": report.passages_encoded,
        "verdict_stored": {"passed": v_stored.passed, "reasons": list(v_stored.reasons)},
        "verdict_full": {"passed": v_full.passed, "reasons": list(v_full.reasons)},
        "agree": v_stored.passed == v_full.passed, "earlier": per_domain,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--keep-cache", type=Path, default=None)
    args = parser.parse_args()

    from ddr.registry import Registry

    tmp = Path(tempfile.mkdtemp(prefix="ddr-gate-data-"))
    t0 = time.perf_counter()
    try:
        reg = Registry.init(tmp / "home")
        if args.cache:
            shutil.copytree(args.cache, reg.home / "cache" / "embeddings", dirs_exist_ok=True)
        steps = []
        for name in ORDER:
            steps.append(_step(reg, name, args.data / name, args.data))
            s = steps[-1]
            print(f"+{name}: verdicts stored={s['verdict_stored']['passed']} full={s['verdict_full']['passed']}; "
                  + "; ".join(f"{d['domain']} {d['stored']['delta']:+.2f}/{d['full']['delta']:+.2f}" for d in s["earlier"]), flush=True)
        if args.keep_cache:
            shutil.copytree(reg.home / "cache" / "embeddings", args.keep_cache, dirs_exist_ok=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [d for s in steps for d in s["earlier"]]
    diffs = [abs(d["stored"]["delta"] - d["full"]["delta"]) for d in rows]
    summary = {
        "decisions": len(steps), "decisions_agree": sum(s["agree"] for s in steps), "rows": len(rows),
        "rows_same_delta_within_0.01": sum(x <= 0.01 for x in diffs), "max_abs_delta_difference": round(max(diffs, default=0.0), 2),
        "mean_abs_delta_difference": round(sum(diffs) / max(1, len(diffs)), 3),
        "row_refusals_agree": sum((d["stored"]["delta"] < -0.5) == (d["full"]["delta"] < -0.5) for d in rows),
        "wall_minutes": round((time.perf_counter() - t0) / 60, 1),
    }
    print(summary)
    write("gate_data", {"benchmark": "gate_data", "machine": machine(), "order": ORDER, "summary": summary, "steps": steps})


if __name__ == "__main__":
    main()
