"""Index build, and whether an index still matches what is live.

A passage index depends on the backbone and the general prefix only. Its record stores both, so
search can tell a stale index (built under another general version) from a current one, whatever
happened to domains and routers since. Beside the faiss index, every index holds a BM25 index of
the same corpus (bm25s, stemmed; it depends on the corpus only), so search can be hybrid.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ddr.errors import DdrError, UsageError
from ddr.registry import IndexRecord, IndexSpec, NotFoundError, Registry

from . import live
from .cache import passage_embeddings

LEXICAL_FOLDER = "lexical"  # inside an index's folder: its BM25 side (indexes built before it existed lack it)


class StaleIndexError(DdrError, RuntimeError):
    """The index was built under another general prefix or backbone than the live one."""


@dataclass(frozen=True)
class IndexBuild:
    """How to build one index (besides the registry and the collection)."""

    name: str | None = None  # default: the collection folder's name (:func:`index_name_for`)
    kind: str = "flat"
    dtype: str | None = None
    backbone: str | None = None
    progress: bool = True


def build_index(reg: Registry, data: str, **options: Any) -> tuple[IndexRecord, int]:
    """Encode a collection's corpus with the live general prefix, build and register an index.

    ``options``: the :class:`IndexBuild` fields (name, kind, dtype, backbone, progress). Returns the
    record and how many passages were encoded now (0 when the cache had them all).
    """
    req = IndexBuild(**options)
    from ddr.retrieval import index as faiss_index
    from ddr.retrieval.beir import corpus_fingerprint
    from ddr.retrieval.bm25 import LexicalIndex

    folder, corpus = read_corpus(data)  # fails on bad data before anything is encoded or written
    name = req.name or index_name_for(folder)
    fp = corpus_fingerprint(corpus)
    state = live.resolve(reg)
    encoder = live.load_encoder(reg, state, backbone=req.backbone, dtype=req.dtype, with_domains=False)
    ids = list(corpus)
    texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
    emb, encoded = passage_embeddings(reg, encoder, texts, general_key=state.general_key, corpus=fp, progress=req.progress)
    params = {
        "type": req.kind, "documents": len(ids), "dim": int(emb.shape[1]), "data": str(folder.resolve()), "dtype": encoder.config.dtype,
        "passage_max_length": encoder.config.passage_max_length, "general_key": state.general_key, "lexical": "bm25s, stemmed",
    }
    with tempfile.TemporaryDirectory(prefix="ddr-index-") as tmp:
        folder = faiss_index.save(faiss_index.build(emb, req.kind), ids, [corpus[i]["title"][:100] for i in ids], Path(tmp) / "index")
        LexicalIndex.build(texts).save(folder / LEXICAL_FOLDER)  # the same rows: hybrid search fuses the two
        spec = IndexSpec(name, encoder.backbone.spec.__dict__, fp, state.general_version, params, encoder.backbone.source)
        record = reg.register_index(spec, folder)
    return record, encoded


def read_corpus(data: str) -> tuple[Path, dict[str, dict[str, str]]]:
    """The one collection folder ``data`` names and its corpus, read and checked as the loader checks it."""
    from ddr.retrieval.beir import collection_dirs, load_corpus

    dirs = collection_dirs(data)
    if len(dirs) != 1:
        raise UsageError(f"{data} holds {len(dirs)} collections; index one collection folder at a time")
    return dirs[0], load_corpus(dirs[0])


def index_name_for(folder: Path) -> str:
    """The default index name for a collection folder: its name made a valid registry name.

    Each run of characters other than letters, digits, '.', '_' and '-' becomes one '-', leading
    symbols and trailing dashes are dropped, and the result is cut to 100 characters ("my data" -> "my-data").
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(folder).resolve().name)
    name = name.lstrip("._-")[:100].rstrip("-")
    if not name:
        raise UsageError(f"{folder}: cannot derive an index name from the folder name; give one with --name")
    return name


def pick_index(reg: Registry, name: str | None) -> IndexRecord:
    """The newest version of the named index (or of the only one)."""
    records = reg.index_records(name)
    if not records:
        raise NotFoundError(f"no index named {name!r}" if name else "no index yet; run: ddr-registry index build --data DIR")
    names = {r.name for r in records}
    if name is None and len(names) > 1:
        raise UsageError(f"several indexes ({', '.join(sorted(names))}); choose one with --index")
    return records[-1]


def is_fresh(record: IndexRecord, state: live.ActiveState) -> bool:
    """Whether the index was built under the live general prefix."""
    return record.params.get("general_key") == state.general_key


def check_fresh(record: IndexRecord, state: live.ActiveState) -> None:
    """Refuse a stale index with the exact command that rebuilds it."""
    if not is_fresh(record, state):
        built = f"general@{record.general_version}" if record.general_version else "the identity general prefix"
        now = f"general@{state.general_version}" if state.general_version else "the identity general prefix"
        raise StaleIndexError(
            f"index {record.name!r} was built with {built} but the live general prefix is {now}; "
            f"rebuild it: ddr-registry index build --data {record.params.get('data', 'DIR')} --name {record.name}"
        )
