"""Index build and search over the registry's live modules.

A passage index depends on the backbone and the general prefix only. Its record stores both, so
search can tell a stale index (built under another general version) from a current one, whatever
happened to domains and routers since.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ddr.errors import DdrError, UsageError
from ddr.registry import IndexRecord, NotFoundError, Registry

from . import active as live

logger = logging.getLogger(__name__)


class StaleIndexError(DdrError, RuntimeError):
    """The index was built under another general prefix or backbone than the live one."""


def passage_embeddings(reg: Registry, encoder, general_key: str, corpus_fp: str, texts: list[str], progress: bool):
    """Cached passage embeddings under one general prefix (encoded only where missing).

    ``general_key`` names that prefix: ``state.general_key`` of the live state, :data:`ddr.active.IDENTITY`
    for the plain backbone, or :func:`ddr.active.folder_key` of a candidate not registered yet.
    """
    from tqdm.auto import tqdm

    from ddr.retrieval.cache import EmbeddingCache, cache_key

    key = cache_key(
        backbone=encoder.backbone.spec.weights_sha256,
        general=general_key,
        corpus=corpus_fp,
        max_length=encoder.config.passage_max_length,
        dtype=encoder.config.dtype,
    )
    cache = EmbeddingCache(reg.home / "cache" / "embeddings", key)
    bar = tqdm(total=len(texts), desc="encoding passages", unit="doc", disable=not progress)
    emb = cache.get_or_encode(texts, lambda chunk: encoder.encode_passages(chunk).numpy(), bar.update)
    bar.close()
    return emb, cache.encoded


def build_index(
    reg: Registry, data: str, name: str | None = None, kind: str = "flat", dtype: str = "float32", backbone: str | None = None, progress: bool = True
) -> tuple[IndexRecord, int]:
    """Encode a collection's corpus with the live general prefix, build and register an index.

    Returns the record and how many passages were encoded now (0 when the cache had them all).
    """
    from ddr.retrieval import index as faiss_index
    from ddr.retrieval.beir import collection_dirs, corpus_fingerprint, load_corpus

    dirs = collection_dirs(data)
    if len(dirs) != 1:
        raise UsageError(f"{data} holds {len(dirs)} collections; index one collection folder at a time")
    corpus = load_corpus(dirs[0])  # fails on bad data before anything is encoded or written
    name = name or dirs[0].name
    fp = corpus_fingerprint(corpus)
    state = live.resolve(reg)
    encoder = live.load_encoder(reg, state, backbone, dtype, with_domains=False)
    ids = list(corpus)
    texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
    emb, encoded = passage_embeddings(reg, encoder, state.general_key, fp, texts, progress)
    index = faiss_index.build(emb, kind)
    with tempfile.TemporaryDirectory(prefix="ddr-index-") as tmp:
        folder = faiss_index.save(index, ids, [corpus[i]["title"][:100] for i in ids], Path(tmp) / "index")
        record = reg.register_index(
            name,
            folder,
            encoder.backbone.spec.__dict__,
            fp,
            state.general_version,
            {
                "type": kind,
                "documents": len(ids),
                "dim": int(emb.shape[1]),
                "data": str(dirs[0].resolve()),
                "dtype": dtype,
                "passage_max_length": encoder.config.passage_max_length,
                "general_key": state.general_key,
            },
        )
    return record, encoded


def pick_index(reg: Registry, name: str | None) -> IndexRecord:
    records = reg.index_records(name)
    if not records:
        raise NotFoundError(f"no index named {name!r}" if name else "no index yet; run: ddr-registry index build --data DIR")
    names = {r.name for r in records}
    if name is None and len(names) > 1:
        raise UsageError(f"several indexes ({', '.join(sorted(names))}); choose one with --index")
    return records[-1]


def check_fresh(record: IndexRecord, state: live.ActiveState) -> None:
    if record.params.get("general_key") != state.general_key:
        built = f"general@{record.general_version}" if record.general_version else "the identity general prefix"
        now = f"general@{state.general_version}" if state.general_version else "the identity general prefix"
        raise StaleIndexError(
            f"index {record.name!r} was built with {built} but the live general prefix is {now}; "
            f"rebuild it: ddr-registry index build --data {record.params.get('data', 'DIR')} --name {record.name}"
        )


@dataclass
class SearchResult:
    query: str
    hits: list[tuple[str, float, str]]
    weights: dict[str, float]


def search(
    reg: Registry, queries: list[str], index_name: str | None = None, route: str = "topk", domains: tuple[str, ...] = (), k: int = 10, backbone: str | None = None
) -> tuple[IndexRecord, list[SearchResult]]:
    from ddr.modules import Route
    from ddr.retrieval import index as faiss_index

    record = pick_index(reg, index_name)
    state = live.resolve(reg)
    check_fresh(record, state)
    encoder = live.load_encoder(reg, state, backbone)
    if encoder.backbone.spec.weights_sha256 != record.backbone_sha256:
        raise StaleIndexError(f"index {record.name!r} was built on another backbone than {encoder.backbone.spec.name}; rebuild it or pass --backbone")
    chosen = Route.prior(list(domains)) if domains else Route.parse(route)
    if chosen.needs_router and encoder.router is None:
        chosen = Route.parse("none")  # nothing to route to yet: general prefix only
    with tempfile.TemporaryDirectory(prefix="ddr-index-") as tmp:
        folder = reg.export_index(record, Path(tmp) / "index")
        loaded = faiss_index.load(folder)
    emb, weights = encoder.encode_queries(queries, route=chosen, return_weights=True)
    scores, doc_ids = loaded.search(emb.numpy(), k)
    titles = dict(zip(loaded.ids, loaded.titles))
    results = []
    for q, row_scores, row_ids, w in zip(queries, scores, doc_ids, weights):
        hits = [(d, float(s), titles.get(d, "")) for d, s in zip(row_ids, row_scores)]
        results.append(SearchResult(q, hits, {n: round(float(x), 4) for n, x in zip(encoder.domains, w) if x > 0}))
    return record, results


def results_json(record: IndexRecord, results: list[SearchResult]) -> str:
    return json.dumps(
        {
            "index": f"{record.name}@{record.version}",
            "results": [
                {"query": r.query, "router_weights": r.weights, "hits": [{"id": d, "score": s, "title": t} for d, s, t in r.hits]}
                for r in results
            ],
        },
        indent=2,
    )
