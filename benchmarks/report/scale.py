"""The team-scale sections of ``docs/benchmarks.md``: metadata at scale, sharded encoding, the cost of
the continual stream. Rendered by ``benchmarks.report.docs``; a section is skipped while its JSON is absent."""

from __future__ import annotations

from benchmarks.report.format import Doc, f, minutes, table


def metadata_scale(doc: Doc) -> None:
    file = "metadata_scale.json"
    if file not in doc.data:
        return
    d = doc.data[file]
    any_db = next(iter(d["results"].values()))
    sizes = any_db["large"]["sizes"]
    doc.add(
        "## Metadata at scale (`metadata_scale.py`)",
        "",
        f"A registry of {sizes['module_versions']:,} module versions, {sizes['router_versions']} router versions (each over 20 domains) "
        f"and {sizes['audit_rows']:,} audit rows, against one holding a single domain and router, in the same run; "
        f"median of {d['repeat']} runs each. CLI: a `ddr-registry` process, start-up included (what a user waits for); "
        f"in process: the library call. Interactive: a CLI answer within {f(d['interactive_seconds'], 0)} s. {doc.ran_on(file)}",
        "",
    )
    rows = []
    for db, r in d["results"].items():
        for op in r["large"]["cli_ms"]:
            rows.append([db, op, f(r["small"]["cli_ms"][op], 0), f(r["large"]["cli_ms"][op], 0), f"{f(r['cli_ratio_large_over_small'][op])}×",
                         f(r["small"]["in_process_ms"][op], 1), f(r["large"]["in_process_ms"][op], 1),
                         "yes" if r["interactive"][op] else "**no**"])
    doc.add(*table(["database", "operation", "CLI ms, small", "CLI ms, large", "large / small", "call ms, small", "call ms, large", "interactive"], rows,
                   "llrrrrrl"))


def sharded_encoding(doc: Doc) -> None:
    file = "sharded_encoding.json"
    if file not in doc.data:
        return
    d = doc.data[file]
    r = d["speed_ratio_single_over_sharded"]
    doc.add(
        "## Sharded encoding (`sharded_encoding.py`)",
        "",
        f"`index build` of {d['collection']} in one process against `torchrun --nproc-per-node {d['workers']}` (gloo), each in a fresh home, "
        f"{d['rounds']} rounds alternating which goes first; cache shards of {d['shard_passages']} passages; dtype {d['dtype']}. Both use all "
        f"cores (the workers split the threads). Whole-command wall time. {doc.ran_on(file)}",
        "",
    )
    doc.add(*table(["", "one process", f"{d['workers']} workers"],
                   [["median seconds", f(d["median_seconds"]["single"], 1), f(d["median_seconds"]["sharded"], 1)]]))
    doc.add(f"Speed ratio one process / sharded: **{f(r['median'])}×** (rounds {f(r['min'])}–{f(r['max'])}). Embedding caches "
            + ("**identical**" if d["identical"] else f"differ by at most {d['max_abs_difference']:.2e}") + " in every round.", "")


def stream_cost(doc: Doc) -> None:
    file = "stream_cost.json"
    if file not in doc.data:
        return
    d = doc.data[file]
    doc.add(
        "## Cost of the continual stream (`stream_cost.py`)",
        "",
        "The seven collections added the ddr way (each corpus encoded once; query-side module and router trained; gated) against the "
        f"way a user adapts today: at each arrival, fine-tune the bi-encoder on every collection seen so far ({d['ft_epochs']} epochs, "
        f"batch {d['ft_batch']}) and re-encode every corpus seen so far. Encoding in {d['dtype']}. {doc.ran_on(file)}",
        "",
        "What ran in full and what is extrapolated is in the *how* column: extrapolated ddr arrivals use the per-passage encoding cost "
        "measured on their corpus in this run plus the add-domain time the continual benchmark recorded, scaled by this run's "
        f"measured/recorded ratio ({f(d['ddr_train_scale_vs_continual_json'])}); extrapolated fine-tune arrivals use per-step and "
        "per-passage costs measured on each collection in this run. "
        f"Check of the unit-cost model on the first fine-tune arrival: {f(d['model_check_first_arrival_today']['from_unit_costs'], 0)} s "
        f"predicted, {f(d['model_check_first_arrival_today']['measured'], 0)} s measured.",
        "",
    )
    rows = []
    for a, b in zip(d["ddr"], d["today"]):
        rows.append([a["arrival"], f(a["seconds"], 0), a["how"], f(b["seconds"], 0), b["how"], f"{b.get('passages_reencoded', 0):,}"])
    rows.append(["**total**", f"**{f(d['totals_seconds']['ddr'], 0)}**", "", f"**{f(d['totals_seconds']['today'], 0)}**", "",
                 f"{d['passages_encoded']['today']:,}"])
    doc.add(*table(["arrival", "ddr s", "how", "fine-tune + re-encode s", "how", "passages re-encoded"], rows, "lrlrlr"))
    doc.add(f"ddr's total is **{f(d['ratio_ddr_over_today'], 3)}×** the fine-tune way's ({minutes(d['totals_seconds']['ddr'])} against "
            f"{minutes(d['totals_seconds']['today'])}; ddr encodes {d['passages_encoded']['ddr']:,} passages); target ≤ {f(d['target'], 2)}: "
            + ("met." if d["met"] else "**missed**."), "")
    c = d.get("calibrated") or _calibrated(d)
    doc.add(f"The unit-cost model over-predicts the fine-tune arrival run in full by {f(1 / c['factor'])}×; scaling every extrapolated "
            f"fine-tune arrival by the measured/predicted ratio ({f(c['factor'])}) gives {minutes(c['today_seconds'])} for the fine-tune "
            f"way and a ratio of **{f(c['ratio_ddr_over_today'], 3)}×**.", "")


def _calibrated(d: dict) -> dict:
    """The same correction stream_cost.py now writes, from the fields of a JSON written before it did."""
    check = d["model_check_first_arrival_today"]
    factor = check["measured"] / check["from_unit_costs"]
    today = d["today"][0]["seconds"] + factor * sum(r["seconds"] for r in d["today"][1:])
    return {"factor": factor, "today_seconds": today, "ratio_ddr_over_today": d["totals_seconds"]["ddr"] / today}
