"""BM25 baseline through bm25s (lowercase, English stop words, optional Snowball stemming)."""

from __future__ import annotations

from collections.abc import Sequence


def bm25_run(
    doc_ids: Sequence[str], doc_texts: Sequence[str], query_ids: Sequence[str], query_texts: Sequence[str], k: int = 100, stem: bool = True
) -> dict[str, dict[str, float]]:
    import logging

    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it forces DEBUG on import

    stemmer = None
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(list(doc_texts), stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize(list(query_texts), stopwords="en", stemmer=stemmer, show_progress=False)
    rows, scores = retriever.retrieve(tokens, k=min(k, len(doc_ids)), show_progress=False)
    return {
        q: {doc_ids[int(r)]: float(s) for r, s in zip(row, score) if s > 0}
        for q, row, score in zip(query_ids, rows, scores)
    }
