"""The speed sections of ``docs/benchmarks.md``: bf16 against fp32 (``bf16_check.json``), encoding throughput
(``encoder_throughput.json``), query latency and index build (``query_latency.json``) and serving under load
(``serve_load.json``). Rendered by ``benchmarks.report.docs``; the helpers are in ``benchmarks.report.format``."""

from __future__ import annotations

from benchmarks.report.format import Doc, f, ratio, sf, table


def bf16(doc: Doc) -> None:
    file = "bf16_check.json"
    d = doc.data[file]
    enc = doc.data.get("encoder_throughput.json")
    doc.add(
        "## bf16 autocast against fp32",
        "",
        "`python -m benchmarks.performance.bf16_check` encodes each collection's corpus and test queries with the plain backbone in fp32",
        "and in bf16 autocast (alternating which goes first) and scores both. Speed ratio = fp32 time / bf16 time (> 1:",
        "bf16 is faster). " + doc.ran_on(file),
        "",
    )
    rows = []
    for n in sorted(d["collections"]):
        c = d["collections"][n]
        rows.append([n, f"{c['passages']:,}", f(c["fp32"]["seconds"], 1), f(c["bf16"]["seconds"], 1), f"{f(c['speed_ratio_bf16_vs_fp32'])}×",
                     f(c["fp32"]["ndcg@10"]), f(c["bf16"]["ndcg@10"]), sf(c["ndcg_delta"]), f(c["min_cosine"], 5)])
    doc.add(*table(["collection", "passages", "fp32 s", "bf16 s", "bf16 speed", "nDCG@10 fp32", "nDCG@10 bf16", "delta", "min cosine"], rows))
    doc.add("*n*: the number of test queries is not recorded in `bf16_check.json`.", "")
    if enc and "bf16_vs_fp32" in enc:
        b = enc["bf16_vs_fp32"]
        doc.add(
            f"On {doc.machine('encoder_throughput.json')}, `encoder_throughput.py` measured the same switch on {b['passages']} scifact "
            f"passages (general prefix P=16): bf16 ran at {ratio(b['speed_ratio'])} the speed of fp32 (min cosine {f(b['min_cosine'], 6)}). "
            "Whether bf16 pays depends on the CPU having bf16 units: `--dtype auto`, the default, picks bf16 only where the CPU "
            "has them (AVX512-BF16 or AMX) or on a GPU, fp32 elsewhere.",
            "",
        )


def throughput(doc: Doc) -> None:
    file = "encoder_throughput.json"
    d = doc.data[file]
    r, t = d["throughput_ratio_vs_plain"], d["targets"]
    doc.add(
        "## Encoding throughput",
        "",
        f"`python -m benchmarks.performance.encoder_throughput`: {d['passages']} {d['collection']} passages (cut at {d['passage_max_length']} tokens) and "
        f"{d['queries']} queries, {d['rounds']} alternating rounds; throughput relative to the plain backbone (> 1: faster). "
        "The DDR encoders carry a general prefix and three domain prefixes with opened gates and random values, and a",
        "router with random weights (`tokens` input unless marked). The routed-query rows used `route=\"topk\"`; the JSON",
        "does not record k, and this run predates the change of `topk` from top-2 to top-1 (a rerun measures top-1).",
        doc.ran_on(file),
        "",
    )
    label = {
        "ddr_passages_P16": "passages, general prefix P=16", "ddr_passages_P64": "passages, general prefix P=64",
        "ddr_queries_topk_P16": "routed queries, P=16", "ddr_queries_topk_P64": "routed queries, P=64",
        "ddr_queries_topk_P16_general_router": "routed queries, P=16, router on the general-prefix embedding",
    }
    rows = []
    for k in r:
        target = t["passages"] if k.startswith("ddr_passages") else t["routed_queries"]
        rows.append([label.get(k, k), ratio(r[k]), f">= {f(target)}×", "met" if r[k]["median"] >= target else "**missed**"])
    doc.add(*table(["system", "throughput vs plain, median [min–max]", "target", "median vs target"], rows, "lrrl"))


def latency(doc: Doc) -> None:
    file = "query_latency.json"
    d = doc.data[file]
    lat, ib = d["latency"], d["index_build"]
    doc.add(
        "## Query latency and index build",
        "",
        f"`python -m benchmarks.performance.query_latency`, {d['collection']}. Latency: each of the collection's {lat['queries']} test queries",
        "encoded and searched one at a time against a flat index of its whole corpus, plain and routed alternating query by",
        "query. Routed = the general prefix plus the domain prefixes the router picks among three (random weights, as in",
        "the throughput benchmark) with `route=\"topk\"`; the JSON does not record k, and the run predates `topk` meaning",
        "top-1. " + doc.ran_on(file),
        "",
    )
    systems = lat["systems"]
    label = {"plain": "plain backbone", "ddr_topk": "routed (`topk`)"}
    rows = [[label.get(k, k), str(lat["queries"]), f(v["p50_ms"]), f(v["p95_ms"]), f(v["mean_ms"])] for k, v in systems.items()]
    doc.add(*table(["system", "n (queries)", "p50 ms", "p95 ms", "mean ms"], rows))
    doc.add(
        f"Routed / plain: p50 {f(lat['p50_ratio'], 3)}×, p95 {f(lat['p95_ratio'], 3)}× (target <= {f(lat['target_ratio'])}×: "
        + ("met" if max(lat["p50_ratio"], lat["p95_ratio"]) <= lat["target_ratio"] else "**missed**") + ").",
        "",
        f"Index build: `index build` through the registry (general prefix, cache cleared each round) against plain encoding of the "
        f"same {ib['slice_passages']:,} passages, {ib['rounds']} rounds: {ratio(ib['throughput_ratio_vs_plain_encoding'])} the throughput "
        f"of plain encoding. The full index ({ib['full_index']['passages']:,} passages) took {f(ib['full_index']['seconds'], 1)} s.",
        "",
    )


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
