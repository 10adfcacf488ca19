"""BM25 through bm25s (lowercase, English stop words, optional Snowball stemming): the lexical side of
hybrid retrieval and the baseline every evaluation reports.

A :class:`LexicalIndex` is built from a corpus once and saved beside the faiss index of the same
corpus (its rows are the same documents in the same order), so a hybrid search loads both and
encodes nothing else. Files are bm25s's own (numpy arrays and JSON, loaded without pickle).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PARAMS_FILE = "lexical.json"


def _quiet():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it forces DEBUG on import
    return bm25s


def _stemmer(stem: bool):
    if not stem:
        return None
    import Stemmer

    return Stemmer.Stemmer("english")


class LexicalIndex:
    """BM25 over one corpus; row ``i`` is the corpus's ``i``-th document."""

    def __init__(self, retriever, stem: bool, size: int) -> None:
        self.retriever, self.stem, self.size = retriever, stem, size

    @classmethod
    def build(cls, texts: Sequence[str], stem: bool = True) -> LexicalIndex:
        bm25s = _quiet()
        retriever = bm25s.BM25()
        retriever.index(bm25s.tokenize(list(texts), stopwords="en", stemmer=_stemmer(stem), show_progress=False), show_progress=False)
        return cls(retriever, stem, len(texts))

    def search(self, queries: Sequence[str], k: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each (len(queries), k'): the top ``k`` rows per query (a score of 0 matched nothing)."""
        bm25s = _quiet()
        tokens = bm25s.tokenize(list(queries), stopwords="en", stemmer=_stemmer(self.stem), show_progress=False)
        return self.retriever.retrieve(tokens, k=min(k, self.size), show_progress=False)

    def run(self, doc_ids: Sequence[str], query_ids: Sequence[str], queries: Sequence[str], k: int = 100) -> dict[str, dict[str, float]]:
        rows, scores = self.search(queries, k)
        return {q: {doc_ids[int(r)]: float(s) for r, s in zip(row, score) if s > 0} for q, row, score in zip(query_ids, rows, scores)}

    def save(self, folder: Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(folder), show_progress=False)
        (folder / PARAMS_FILE).write_text(json.dumps({"stem": self.stem, "documents": self.size}))
        return folder

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        bm25s = _quiet()
        params = json.loads((Path(folder) / PARAMS_FILE).read_text())
        retriever = bm25s.BM25.load(str(folder), allow_pickle=False)
        return cls(retriever, bool(params["stem"]), int(params["documents"]))


def bm25_run(
    doc_ids: Sequence[str], doc_texts: Sequence[str], query_ids: Sequence[str], query_texts: Sequence[str], k: int = 100, stem: bool = True
) -> dict[str, dict[str, float]]:
    """BM25's top ``k`` per query over a corpus indexed on the spot."""
    return LexicalIndex.build(doc_texts, stem).run(doc_ids, query_ids, query_texts, k)
