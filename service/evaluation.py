"""BEIR-style evaluation of the live DDR system against BM25 and the plain backbone, in one run.

Every system is scored on the same judged queries of the same split with the same metrics
library; passage embeddings come from the shared cache, so evaluating after an index build (or
after adding a domain) encodes no passage again.

Two BEIR conventions, applied the way BEIR and MTEB score ArguAna:

- A judgement naming a document that is not in the corpus is kept as a relevant document no system
  can retrieve (noted in ``notes``; ``strict=True`` refuses it instead, naming file:line).
- A query that is itself a document of the corpus (same id, and the same text once whitespace is
  normalised, compared with the document's text alone and with title + text) does not retrieve
  itself: that document is dropped from the query's results, for every system, before scoring.
  Each system retrieves ``DEPTH + 1`` documents so a query still has ``DEPTH`` after the drop.
  Only id and text equal together count: collections that number queries and documents
  independently (query "1" and document "1" with different texts) keep every document.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddr.errors import UsageError
from ddr.registry import ModuleVersion, Registry

from . import live
from .cache import IDENTITY, passage_embeddings

if TYPE_CHECKING:  # numpy and torch stay off the CLI's start-up path
    import numpy as np
    import torch

    from ddr.modules import DDREncoder, Route
    from ddr.retrieval.beir import Collection

Run = dict[str, dict[str, float]]  # query id -> doc id -> score

logger = logging.getLogger(__name__)

ROUTES = ("prior", "topk", "soft", "none")
DEPTH = 100  # documents per query in every run (R@100 needs 100)
BASELINES = ("bm25", "bm25-nostem", "plain")
NO_MODULES = "DDR (= plain: no modules)"  # the DDR row of a registry with nothing registered
PLAIN_FUSION_WEIGHT = 0.5  # BM25 + plain fuses at the engines' default
# The table's rows as a reader compares them: baselines, DDR under each route, then each dense row fused with BM25.
ROW_ORDER = ("BM25", "BM25 (no stem)", "plain", NO_MODULES, *(f"DDR-{r}" for r in ROUTES))


def parse_baselines(text: str) -> list[str]:
    names = [b.strip() for b in text.split(",") if b.strip()]
    bad = [b for b in names if b not in BASELINES]
    if bad:
        raise UsageError(f"unknown baseline(s) {', '.join(bad)}; choose from {', '.join(BASELINES)}")
    return names


def ordered(systems: Iterable[str]) -> list[str]:
    """System names in the table's order: BM25, BM25 (no stem), plain, DDR-prior, -topk, -soft, -none,
    then ``BM25 + …`` in the same order (names it does not know last, alphabetically)."""

    def key(name: str) -> tuple[bool, int, str]:
        fused = name.startswith("BM25 + ")
        base = name.removeprefix("BM25 + ")
        return fused, ROW_ORDER.index(base) if base in ROW_ORDER else len(ROW_ORDER), base

    return sorted(systems, key=key)


def _dense_run(passages: np.ndarray, doc_ids: Sequence[str], queries: np.ndarray, query_ids: Sequence[str], k: int = DEPTH + 1) -> Run:
    from ddr.retrieval.scoring import rank

    return rank(queries, passages, doc_ids, query_ids, k)


@dataclass(frozen=True)
class Evaluation:
    """One evaluate run (besides the registry and the data folder).

    ``encoders`` = (live encoder, plain encoder) replaces loading them from the registry (tests
    pass encoders whose scores can be computed by hand). ``strict`` refuses judgements of documents
    that are not in the corpus instead of scoring them as unretrievable. ``hybrid`` adds every dense
    system fused with BM25 (``BM25 + plain``, ``BM25 + DDR-…``) at ``lexical_weight`` (a number, or
    ``"routed"``: each DDR query at the weight its router holds for its domain; plain stays at 0.5).
    """

    split: str = "test"
    route: str = "all"
    domains: Sequence[str] = ()
    baselines: Sequence[str] = ("bm25", "plain")
    collections: Sequence[str] = ()
    dtype: str | None = None
    backbone: str | None = None
    progress: bool = True
    encoders: tuple[DDREncoder, DDREncoder] | None = None
    strict: bool = False
    hybrid: bool = True
    lexical_weight: float | str = 0.5
    by_positives: bool = False  # also score each collection's queries split by the live module's training positives

    @property
    def routes(self) -> list[str]:
        return list(ROUTES) if self.route == "all" else [self.route]


def evaluate(reg: Registry, data: str, **options: Any) -> dict:
    """Score the live DDR system (under each route) and the baselines on each collection.

    ``options``: the :class:`Evaluation` fields (split, route, domains, baselines, collections, dtype,
    backbone, progress, encoders, strict, hybrid, lexical_weight, by_positives). Systems come in the table's order
    (:func:`ordered`); a row that is another row by construction is left out, with a note.
    """
    req = Evaluation(**options)
    if any(r not in ROUTES for r in req.routes):
        raise UsageError(f"route must be one of {', '.join(ROUTES)} or all, got {req.route!r}")
    loaded = read_collections(data, req.split, req.collections, req.strict)  # all data checked before any encoding
    state = live.resolve(reg)
    encoders = req.encoders
    if encoders is None:
        from ddr.modules import DDREncoder  # torch: imported only once the data has passed its checks

        encoder = live.load_encoder(reg, state, backbone=req.backbone, dtype=req.dtype)
        encoders = (encoder, DDREncoder(encoder.backbone, config=encoder.config))
    out: dict = {"split": req.split, "live": state.describe(), "collections": {}, "notes": []}
    for coll in loaded:
        out["collections"][coll.name] = _collection(reg, coll, state, encoders, req, out["notes"])
    out["average"] = _average(out["collections"])
    return out


def read_collections(data: str, split: str, collections: Sequence[str], strict: bool) -> list[Collection]:
    """The collections under ``data`` (or the ones named), each read and checked by the loader for ``split``."""
    from ddr.retrieval.beir import collection_dirs, load_collection

    dirs = collection_dirs(data)
    if collections:
        missing = set(collections) - {d.name for d in dirs}
        if missing:
            raise UsageError(f"{data}: no collection named {', '.join(sorted(missing))}")
        dirs = [d for d in dirs if d.name in set(collections)]
    return [load_collection(d, split, strict=strict) for d in dirs]


def self_documents(coll: Collection, query_ids: Sequence[str]) -> set[str]:
    """The queries that are themselves documents of the corpus: same id and same (non-empty) text."""
    out = set()
    for q in query_ids:
        doc = coll.corpus.get(q)
        text = _normalised(coll.queries[q])
        if doc is not None and text and text in (_normalised(doc["text"]), _normalised(f"{doc['title']} {doc['text']}")):
            out.add(q)
    return out


def _normalised(text: str) -> str:
    return " ".join(text.split())


def drop_self_hits(run: Run, selves: set[str], k: int = DEPTH) -> tuple[Run, int]:
    """``run`` without each query's own document (for the queries in ``selves``), cut to ``k`` per query."""
    out, dropped = {}, 0
    for q, docs in run.items():
        if q in selves and q in docs:
            docs = {d: s for d, s in docs.items() if d != q}
            dropped += 1
        out[q] = dict(sorted(docs.items(), key=lambda x: -x[1])[:k])
    return out, dropped


def _collection(
    reg: Registry, coll: Collection, state: live.ActiveState, encoders: tuple[DDREncoder, DDREncoder], req: Evaluation, notes: list[str],
) -> dict:
    """Every system's metrics on one collection's judged queries: dense, and (``req.hybrid``) fused with BM25."""
    from ddr.retrieval.beir import corpus_fingerprint
    from ddr.retrieval.bm25 import bm25_run
    from ddr.retrieval.metrics import evaluate as score

    encoder, plain_encoder = encoders
    doc_ids, doc_texts = coll.passage_texts()
    qids, qtexts = coll.judged_queries()
    fp = corpus_fingerprint(coll.corpus)
    selves = self_documents(coll, qids)
    _notes(coll, selves, notes)
    systems: dict[str, dict[str, float]] = {}
    dropped: dict[str, int] = {}
    runs: dict[str, Run] = {}

    def scored(name: str, run: Run, fused: bool = False) -> None:
        if fused:  # fused from runs that no longer hold a query's own document
            runs[name] = run
        else:
            runs[name], dropped[name] = drop_self_hits(run, selves)
        systems[name] = score(coll.qrels, runs[name])

    lexical = None
    for b in req.baselines:
        if b.startswith("bm25"):
            scored("BM25" if b == "bm25" else "BM25 (no stem)", bm25_run(doc_ids, doc_texts, qids, qtexts, k=DEPTH + 1, stem=b == "bm25"))
    if req.hybrid:
        lexical = runs.get("BM25") or drop_self_hits(bm25_run(doc_ids, doc_texts, qids, qtexts, k=DEPTH + 1), selves)[0]
    plain_p, encoded = passage_embeddings(reg, plain_encoder, doc_texts, general_key=IDENTITY, corpus=fp, progress=req.progress)
    if "plain" in req.baselines:
        scored("plain", _dense_run(plain_p, doc_ids, plain_encoder.encode_queries(qtexts, route="plain").numpy(), qids))
    weights: dict[str, list[float]] = {}
    if state.general is None and not state.domains:
        scored(NO_MODULES, _dense_run(plain_p, doc_ids, encoder.encode_queries(qtexts, route="none").numpy(), qids))
    else:
        ddr_p = plain_p
        if state.general is not None:
            ddr_p, more = passage_embeddings(reg, encoder, doc_texts, general_key=state.general_key, corpus=fp, progress=req.progress)
            encoded += more
        prior = list(req.domains) or [d.name for d in state.domains if d.data_fingerprint == fp]
        for r in req.routes:
            chosen = _route_for(r, prior, encoder.router is not None)
            if isinstance(chosen, str):
                notes.append(f"{coll.name}: {chosen}")
                continue
            q, w = encoder.encode_queries(qtexts, route=chosen, return_weights=True)
            scored(f"DDR-{r}", _dense_run(ddr_p, doc_ids, q.numpy(), qids))
            weights[f"DDR-{r}"] = _lexical_weights(encoder, w, req.lexical_weight)
    if lexical is not None:
        _hybrid(runs, lexical, weights, qids, scored)
    _leave_out_repeats(systems, dropped, weights, state, notes)
    live_here = [d for d in state.domains if d.data_fingerprint == fp]
    split = _by_positives(reg, coll, qids, live_here, {name: runs[name] for name in ordered(systems)}, notes) if req.by_positives else {}
    return {
        "queries": len(qids), "documents": len(doc_ids), "passages_encoded": encoded, "systems": {s: systems[s] for s in ordered(systems)},
        "missing_documents": len(coll.missing_documents), "self_hits": {"queries": len(selves), "dropped": dropped}, **split,
    }


def _by_positives(reg: Registry, coll: Collection, qids: list[str], modules: list[ModuleVersion], runs: dict[str, Run],
                  notes: list[str]) -> dict[str, dict | None]:
    """``by_positives``: the systems of ``runs`` (those shown) on the queries whose relevant documents were training positives
    of the live modules trained on this corpus, and on the others (None, with a note, where that is not known)."""
    from .positives import score_groups, split_queries, training_positives

    if not modules:
        notes.append(f"{coll.name}: no live domain module was trained on this corpus; no split by training positives")
        return {"by_positives": None}
    positives, unknown = training_positives(reg, modules)
    if unknown:
        notes.append(f"{coll.name}: {', '.join(unknown)} carries no replay set (pulled without gate data?); no split by training positives")
        return {"by_positives": None}
    groups = split_queries(coll.qrels, qids, positives)
    return {"by_positives": score_groups(coll.qrels, runs, groups)}


def _leave_out_repeats(
    systems: dict[str, dict[str, float]], dropped: dict[str, int], weights: dict[str, list[float]], state: live.ActiveState, notes: list[str],
) -> None:
    """Leave out the rows that are another row by construction, and say so once.

    With the identity general prefix (no general module), DDR under no domain (``DDR-none``, or the
    DDR row of a registry with no modules) is the plain backbone, passages and queries alike: it
    repeats ``plain``, and fused at plain's weight it repeats ``BM25 + plain``.
    """
    dense = NO_MODULES if NO_MODULES in systems else "DDR-none"
    if state.general is not None or dense not in systems or "plain" not in systems:
        return
    gone = [dense]
    fused = f"BM25 + {dense}"
    if fused in systems and "BM25 + plain" in systems and all(w == PLAIN_FUSION_WEIGHT for w in weights.get(dense, [PLAIN_FUSION_WEIGHT])):
        gone.append(fused)
    for name in gone:
        systems.pop(name)
        dropped.pop(name, None)
    shown = [name.replace(NO_MODULES, "DDR") for name in gone]
    why = "no modules are registered" if dense == NO_MODULES else "the general prefix is the identity (no general module is live)"
    note = f"{' and '.join(shown)} not shown: {why}, so {'they repeat' if len(gone) > 1 else 'it repeats'} {' and '.join(['plain', 'BM25 + plain'][: len(gone)])}"
    if note not in notes:
        notes.append(note)


def _notes(coll: Collection, selves: set[str], notes: list[str]) -> None:
    from ddr.retrieval.beir import missing_note

    if coll.missing_documents:
        notes.append(missing_note(coll.name, coll.missing_documents) + "; --strict refuses them")
    if selves:
        notes.append(
            f"{coll.name}: {len(selves)} queries are documents of the corpus (same id and text); "
            "each one's own document is dropped from its results (BEIR and MTEB's convention)"
        )


def _lexical_weights(encoder: DDREncoder, domain_weights: torch.Tensor, lexical_weight: float | str) -> list[float]:
    from .search import ROUTED, lexical_weights

    rows = [{n: float(x) for n, x in zip(encoder.domains, w)} for w in domain_weights]
    if lexical_weight == ROUTED:
        return lexical_weights(encoder.router, rows)
    return [float(lexical_weight)] * len(rows)


def _hybrid(runs: dict[str, Run], lexical: Run, weights: dict[str, list[float]], qids: list[str], scored: Callable[..., None]) -> None:
    """BM25 fused with each dense system (min-max convex fusion; the plain baseline at the engines' 0.5)."""
    from ddr.retrieval.fusion import convex

    for name in [n for n in runs if n == "plain" or n.startswith("DDR")]:
        w = weights.get(name)
        per_query = {q: wq for q, wq in zip(qids, w)} if w else PLAIN_FUSION_WEIGHT
        scored(f"BM25 + {name}", convex(runs[name], lexical, per_query, DEPTH), fused=True)


def _route_for(route: str, prior: list[str], has_router: bool) -> Route | str:
    """The route DDR-``route`` is scored under, or why it is skipped (``prior``: the domains prior routing names)."""
    from ddr.modules import Route

    if route == "prior":
        if not prior:
            return "no registered domain was trained on this corpus; DDR-prior skipped (use --domain)"
        return Route.prior(prior)
    if route in ("topk", "soft") and not has_router:
        return f"no production router; DDR-{route} skipped"
    return Route.parse(route)


def _average(collections: dict) -> dict:
    systems = {s for c in collections.values() for s in c["systems"]}
    avg = {}
    for s in ordered(systems):
        present = [c["systems"][s] for c in collections.values() if s in c["systems"]]
        avg[s] = {m: sum(p[m] for p in present) / len(present) for m in present[0]}
        avg[s]["collections"] = len(present)
    return avg


def table(result: dict, metric: str = "nDCG@10") -> str:
    names = list(result["collections"])
    systems = list(result["average"])
    header = f"{'system':28s}" + "".join(f"{n[:10]:>11s}" for n in names) + f"{'average':>11s}"
    lines = [f"{metric} x 100, split {result['split']}; live: {result['live']}", header, "-" * len(header)]
    for s in systems:
        cells = []
        for n in names:
            m = result["collections"][n]["systems"].get(s)
            cells.append(f"{100 * m[metric]:11.1f}" if m else f"{'-':>11s}")
        lines.append(f"{s:28s}" + "".join(cells) + f"{100 * result['average'][s][metric]:11.1f}")
    lines += _positives_table(result, metric)
    lines += [f"note: {n}" for n in result["notes"]]
    return "\n".join(lines)


def _positives_table(result: dict, metric: str) -> list[str]:
    """The ``--by-positives`` blocks: each group with its n per collection (no average: the groups differ in size)."""
    from .positives import LABELS

    split = {n: c["by_positives"] for n, c in result["collections"].items() if c.get("by_positives")}
    lines: list[str] = []
    for group, label in LABELS.items():
        if not split:
            break
        names = list(split)
        header = f"{'system':28s}" + "".join(f"{n[:10]:>11s}" for n in names)
        counts = f"{'n (queries)':28s}" + "".join(f"{split[n][group]['queries']:11d}" for n in names)
        lines += ["", f"{metric} x 100, queries whose {label}", header, counts, "-" * len(header)]
        for s in result["average"]:
            cells = [split[n][group]["systems"].get(s) for n in names]
            if any(cells):
                lines.append(f"{s:28s}" + "".join(f"{100 * m[metric]:11.1f}" if m else f"{'-':>11s}" for m in cells))
    return lines


def plot(result: dict, path: str | Path, metric: str = "nDCG@10") -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'ddr[plot]'") from None
    names = list(result["collections"])
    systems = list(result["average"])
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names) + 2), 4))
    for i, s in enumerate(systems):
        ys = [100 * result["collections"][n]["systems"].get(s, {}).get(metric, 0.0) for n in names]
        ax.bar([x + i * width for x in range(len(names))], ys, width, label=s)
    ax.set_xticks([x + width * (len(systems) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylabel(f"{metric} x 100")
    ax.set_title(f"{metric} on {result['split']} queries")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
