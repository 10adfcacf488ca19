"""The serving section of ``docs/benchmarks.md``: ``serve_load.json``. Loaded by report_docs.py."""

from __future__ import annotations

from report_common import Doc, f, table


def serve_load(doc: Doc) -> None:
    file = "serve_load.json"
    d = doc.data[file]
    s, rb = d["summary"], d["rollback"]
    doc.add(
        "## Serving under load (`serve_load.py`)",
        "",
        "`ddr-registry serve` in a subprocess (real HTTP; clients are httpx, one query per request, `k` 10, dense) against",
        "`System.search` in the benchmark's own process on the same registry (cacm and cisi live, router@2, an index of",
        f"cacm's corpus), on cacm's {d['queries']} test queries, {d['requests_per_level']} requests per level, {d['rounds']} rounds;",
        f"medians over rounds. Encoding in {d['dtype']}. {doc.ran_on(file)} The server and the clients share the machine's cores.",
        "",
    )
    ip = s["in_process"]
    rows = [["in-process, one query per call", "", f(ip["single_p50_ms"], 1), "", f(ip["single_p99_ms"], 1)],
            ["in-process, batches of 32", f(ip["batched_qps"], 1), "", "", ""]]
    for c in (1, 8, 32):
        v = s[f"server_c{c}"]
        rows.append([f"server, concurrency {c}", f(v["rps"], 1), f(v["p50_ms"], 1), f(v["p95_ms"], 1), f(v["p99_ms"], 1)])
    doc.add(*table(["system", "queries/s", "p50 ms", "p95 ms", "p99 ms"], rows))
    q, p = s["c8_rps_over_in_process_batched"], s["c1_p99_over_in_process_single"]
    swap = rb["swap_seconds_after_rollback"]
    doc.add(
        f"Concurrency 8 against in-process batched throughput: **{f(q['median'], 2)}×** (rounds {f(q['min'], 2)}–{f(q['max'], 2)}; target ≥ 0.8). "
        f"p99 at concurrency 1 against the in-process single-query median: **{f(p['median'], 2)}×** ({f(p['min'], 2)}–{f(p['max'], 2)}; target ≤ 1.5).",
        "",
        f"Rollback under load (8 clients; another process runs `rollback router --to 1`): {rb['requests']} requests, "
        f"**{rb['failures']} failed**, versions served {rb['versions_served']}, "
        + ("no response from router 1" if swap is None else f"first response from router 1 **{f(swap, 2)} s** after the rollback exited")
        + f" (poll interval 0.5 s; target ≤ 2 s); {'a' if rb['went_back_after_swap'] else 'no'} response from router 2 after the swap.",
        "",
    )
    doc.add(*table(["target", "met"], [[k, "yes" if v else "**no**"] for k, v in d["checks"].items()]))
