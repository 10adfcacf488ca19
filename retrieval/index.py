"""faiss indexes over passage embeddings: build, save beside their metadata, load, search.

Row ``i`` of the index is document ``ids[i]`` (saved as ``ids.json``), so ids are stable across a
save/load round trip. Exact inner product by default; HNSW and IVF-PQ for large corpora.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ddr.errors import DataError, UsageError
from ddr.retrieval.beir import id_problem

KINDS = ("flat", "hnsw", "ivfpq")
INDEX_FILE, IDS_FILE, TITLES_FILE = "index.faiss", "ids.json", "titles.json"


def build(embeddings: np.ndarray, kind: str = "flat", hnsw_m: int = 32, nlist: int | None = None, pq_m: int = 16):
    import faiss

    if kind not in KINDS:
        raise UsageError(f"index type must be one of {', '.join(KINDS)}, got {kind!r}")
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    dim = x.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        nlist = nlist or max(1, int(4 * np.sqrt(len(x))))
        if len(x) < 39 * nlist:
            raise UsageError(f"IVF-PQ with nlist={nlist} needs at least {39 * nlist} passages; use flat or hnsw")
        if dim % pq_m:
            raise UsageError(f"PQ sub-quantisers ({pq_m}) must divide the dimension ({dim})")
        index = faiss.index_factory(dim, f"IVF{nlist},PQ{pq_m}", faiss.METRIC_INNER_PRODUCT)
        index.train(x)
    index.add(x)
    return index


@dataclass
class LoadedIndex:
    index: object
    ids: list[str]
    titles: list[str]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[list[str]]]:
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self.ids)))
        return scores, [[self.ids[j] for j in row if j >= 0] for row in rows]


def save(index, ids: Sequence[str], titles: Sequence[str], folder: Path) -> Path:
    import faiss

    folder.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(folder / INDEX_FILE))
    (folder / IDS_FILE).write_text(json.dumps(list(ids)))
    (folder / TITLES_FILE).write_text(json.dumps(list(titles)))
    return folder


def load(folder: Path) -> LoadedIndex:
    import faiss

    index = faiss.read_index(str(folder / INDEX_FILE))
    ids = json.loads((folder / IDS_FILE).read_text())
    titles = json.loads((folder / TITLES_FILE).read_text())
    if index.ntotal != len(ids):
        raise UsageError(f"{folder}: index holds {index.ntotal} vectors but {len(ids)} ids")
    return LoadedIndex(index, ids, titles)


def to_run(query_ids: Sequence[str], scores: np.ndarray, doc_ids: list[list[str]]) -> dict[str, dict[str, float]]:
    return {q: {d: float(s) for d, s in zip(docs, row)} for q, row, docs in zip(query_ids, scores, doc_ids)}


def write_trec(run: dict[str, dict[str, float]], path: Path, tag: str = "ddr") -> None:
    """Standard TREC run format: ``qid Q0 docid rank score tag``.

    Fields are separated by whitespace, so an empty id or one holding whitespace (or such a tag)
    is refused with one line, and nothing is written, rather than writing a line readers split wrongly.
    """
    lines = []
    _trec_field("run tag", tag)
    for qid, docs in run.items():
        _trec_field("query id", qid)
        for rank, (doc, score) in enumerate(sorted(docs.items(), key=lambda x: -x[1]), start=1):
            _trec_field(f"document id (query {qid!r})", doc)
            lines.append(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}")
    path.write_text("\n".join(lines) + ("\n" if lines else ""))


def _trec_field(what: str, value) -> None:
    problem = id_problem(str(value))
    if problem:
        raise DataError(f"cannot write a TREC run: {what} {value!r} {problem}")
