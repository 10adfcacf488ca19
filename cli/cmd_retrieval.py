"""Retrieval commands: index build, index list, search, evaluate. torch is imported inside the commands only."""

from __future__ import annotations

import json
from pathlib import Path

import click

from . import options
from .context import Ctx, pass_ctx
from .output import echo, echo_lines


@click.group()
def index() -> None:
    """Passage indexes (they depend on the general prefix only)."""


@index.command("build")
@click.option("--data", required=True, type=click.Path(), help="One BEIR collection folder.")
@click.option("--name", default=None, help="Index name (default: the folder's name, with characters other than letters, digits, '.', '_' and '-' replaced by '-').")
@click.option("--type", "kind", type=click.Choice(["flat", "hnsw", "ivfpq"]), default="flat", show_default=True, help="faiss index type.")
@options.dtype
@options.backbone
@options.quiet
@pass_ctx
def index_build(ctx: Ctx, data: str, name: str | None, kind: str, dtype: str, backbone: str | None, quiet: bool) -> None:
    """Encode a corpus with the live general prefix and register a faiss index (resumable)."""
    from ddr.service.indexing import build_index

    record, encoded = build_index(ctx.registry, data, name=name, kind=kind, dtype=options.encoding_dtype(dtype), backbone=backbone, progress=not quiet)
    folder = Path(record.params["data"]).name
    if name is None and record.name != folder:
        echo(f"index name {record.name!r} (derived from the folder name {folder!r}; choose another with --name)")
    echo(
        f"index {record.name}@{record.version}: {record.params['documents']} passages "
        f"({encoded} encoded now, {record.params['documents'] - encoded} from cache), {kind}, "
        f"general@{record.general_version or 'identity'}, {record.params['dtype']}"
    )


@index.command("list")
@options.json_output
@pass_ctx
def index_list(ctx: Ctx, as_json: bool) -> None:
    """List registered indexes."""
    from ddr.service.indexing import is_fresh
    from ddr.service.live import resolve

    records = ctx.registry.index_records()
    state = resolve(ctx.registry)
    if as_json:
        click.echo(json.dumps([{**r.to_dict(), "stale": not is_fresh(r, state)} for r in records], indent=2))
        return
    for r in records:
        stale = "" if is_fresh(r, state) else "  STALE"
        echo(f"{r.name}@{r.version}  {r.params.get('documents')} docs  {r.params.get('type')}  general@{r.general_version or 'identity'}{stale}")


@click.command()
@click.argument("query", required=False)
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False), help="A queries.jsonl[.gz] file: batch search.")
@click.option("--run-out", type=click.Path(dir_okay=False), help="With --queries: write a TREC run file here.")
@click.option("--index", "index_name", default=None, help="Index name (default: the only one).")
@click.option("--domain", "domains", multiple=True, help="Prior routing to these domains (repeatable).")
@click.option("--route", type=click.Choice(["topk", "soft", "none"]), default="topk", show_default=True, help="How the router weights the domains (none: general prefix only).")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="Hits per query.")
@click.option("--hybrid", is_flag=True, help="Fuse BM25 in (min-max convex fusion of each side's top 100).")
@click.option(
    "--lexical-weight", default="0.5", show_default=True,
    help="With --hybrid: BM25's weight, a number in [0, 1], or 'routed' for the one the router learned for each query's domain.",
)
@options.backbone
@click.option("--json", "as_json", is_flag=True, help="Machine-readable results, with the router weights used.")
@pass_ctx
def search(ctx: Ctx, query, queries_file, run_out, index_name, domains, route, k, hybrid, lexical_weight, backbone, as_json) -> None:
    """Search an index with the live routed encoder (dense, or --hybrid with BM25)."""
    from ddr.errors import UsageError
    from ddr.service.search import results_json
    from ddr.service.system import search as do_search

    if bool(query) == bool(queries_file):
        raise click.UsageError("give either QUERY or --queries FILE")
    if queries_file:
        from ddr.retrieval.beir import read_queries
        from ddr.retrieval.index import write_trec

        queries = read_queries(Path(queries_file))
        if not run_out:
            raise UsageError("batch search needs --run-out FILE for the TREC run")
        record, results = do_search(ctx.registry, list(queries.values()), index_name=index_name, route=route, domains=domains, k=k, backbone=backbone,
                                    hybrid=hybrid, lexical_weight=lexical_weight)
        run = {qid: {d: s for d, s, _ in r.hits} for qid, r in zip(queries, results)}
        write_trec(run, Path(run_out), tag=f"ddr-{record.name}")
        click.echo(f"wrote {len(run)} queries x {k} to {run_out}")
        return
    record, results = do_search(ctx.registry, [query], index_name=index_name, route=route, domains=domains, k=k, backbone=backbone,
                                hybrid=hybrid, lexical_weight=lexical_weight)
    if as_json:
        click.echo(results_json(record, results))
        return
    r = results[0]
    weights = ", ".join(f"{n}={w}" for n, w in r.weights.items()) or "general only"
    fusion = f"; hybrid, BM25 weight {r.lexical_weight:g}" if r.lexical_weight is not None else ""
    echo(f"index {record.name}@{record.version}; routing: {weights}{fusion}")
    for rank, (doc, score, title) in enumerate(r.hits, start=1):
        echo(f"{rank:3d}  {doc:>12s}  {score:7.4f}  {title[:70]}")


@click.command()
@click.option("--data", required=True, type=click.Path(), help="A BEIR collection folder, or a folder of them.")
@click.option("--collection", "collections", multiple=True, help="Only these collections of a folder.")
@click.option("--split", default="test", show_default=True, help="The qrels split to score (qrels/SPLIT.tsv).")
@click.option("--route", type=click.Choice(["prior", "topk", "soft", "none", "all"]), default="all", show_default=True, help="DDR routes to score.")
@click.option("--domain", "domains", multiple=True, help="Domains for prior routing (default: the domain trained on the collection).")
@click.option("--baselines", default="bm25,plain", show_default=True, help="Comma list of bm25, bm25-nostem, plain.")
@options.dtype
@options.backbone
@click.option(
    "--strict", is_flag=True,
    help="Refuse qrels rows naming documents that are not in the corpus (default: score them as relevant documents no system retrieves, as BEIR does, with a note).",
)
@click.option("--dense-only", is_flag=True, help="Leave out the hybrid rows (every dense system fused with BM25).")
@click.option("--lexical-weight", default="0.5", show_default=True,
              help="BM25's weight in the hybrid rows: a number in [0, 1], or 'routed' (each query at its domain's learned weight).")
@click.option("--by-positives", is_flag=True,
              help="Also score each collection's queries in two groups: those whose relevant documents were training positives of the "
                   "live domain module trained on it, and the others (documents the module never saw).")
@options.json_output
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a bar chart (PNG) comparing systems per collection.")
@options.quiet
@pass_ctx
def evaluate(ctx: Ctx, data, collections, split, route, domains, baselines, dtype, backbone, strict, dense_only, lexical_weight, by_positives,
             as_json, plot, quiet) -> None:
    """NDCG@10, Recall@100 and MRR@10 of DDR against BM25 and the plain backbone, dense and hybrid, side by side.

    A query that is itself a document of the corpus (same id and same text, as in ArguAna) does not
    retrieve itself: that document is dropped from its results, as BEIR and MTEB do.
    """
    from ddr.service.evaluation import evaluate as run
    from ddr.service.evaluation import parse_baselines, table
    from ddr.service.evaluation import plot as draw

    result = run(
        ctx.registry, data, split=split, route=route, domains=domains, baselines=parse_baselines(baselines), collections=collections,
        dtype=options.encoding_dtype(dtype), backbone=backbone, progress=not quiet, strict=strict, hybrid=not dense_only, lexical_weight=_weight(lexical_weight),
        by_positives=by_positives,
    )
    if plot:
        draw(result, plot)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        echo_lines(table(result))


def _weight(text: str) -> float | str:
    """``--lexical-weight`` through the library's one check (a number in [0, 1], or 'routed')."""
    from ddr.errors import UsageError
    from ddr.service.search import check_lexical_weight

    try:
        return check_lexical_weight(text)
    except UsageError as exc:
        raise click.BadParameter(str(exc), param_hint="--lexical-weight") from None


COMMANDS = (index, search, evaluate)
