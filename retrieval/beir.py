"""BEIR-format collections: ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``.

Strict on purpose: a malformed line, a duplicate id, a qrels id that is not in the corpus or the
queries, or a non-UTF-8 byte raises one :class:`~ddr.errors.DataError` naming the file and line, and
nothing is returned from a file that fails. LF and CRLF line endings are both accepted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ddr.errors import DataError


@dataclass
class Collection:
    """One collection: documents, queries and graded judgements for one split."""

    name: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)

    def passage_texts(self) -> tuple[list[str], list[str]]:
        """(ids, texts) with the title prepended, the way the backbone was evaluated on BEIR."""
        ids = list(self.corpus)
        texts = [f"{d['title']} {d['text']}".strip() for d in self.corpus.values()]
        return ids, texts

    def judged_queries(self) -> tuple[list[str], list[str]]:
        ids = [q for q in self.queries if q in self.qrels]
        return ids, [self.queries[q] for q in ids]


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.jsonl", folder / f"{stem}.jsonl.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: no {stem}.jsonl or {stem}.jsonl.gz")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"{path}:{number}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
                yield number, line.rstrip("\r\n")
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _jsonl(path: Path, fields: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("_id"), (str, int)):
            raise DataError(f"{path}:{number}: expected an object with an '_id'")
        for f in fields:
            if not isinstance(obj.get(f, ""), str):
                raise DataError(f"{path}:{number}: field {f!r} must be a string")
        yield number, obj


def load_corpus(folder: Path) -> dict[str, dict[str, str]]:
    path = _find(folder, "corpus")
    corpus: dict[str, dict[str, str]] = {}
    for number, obj in _jsonl(path, ("title", "text")):
        doc_id = str(obj["_id"])
        if doc_id in corpus:
            raise DataError(f"{path}:{number}: duplicate document id {doc_id!r}")
        corpus[doc_id] = {"title": obj.get("title", "") or "", "text": obj.get("text", "") or ""}
    if not corpus:
        raise DataError(f"{path}: the corpus is empty")
    return corpus


def load_queries(folder: Path) -> dict[str, str]:
    return read_queries(_find(folder, "queries"))


def read_queries(path: Path) -> dict[str, str]:
    """A standalone queries file (``.jsonl`` or ``.jsonl.gz``), checked like a collection's."""
    queries: dict[str, str] = {}
    for number, obj in _jsonl(Path(path), ("text",)):
        qid = str(obj["_id"])
        if qid in queries:
            raise DataError(f"{path}:{number}: duplicate query id {qid!r}")
        queries[qid] = obj.get("text", "")
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def load_qrels(folder: Path, split: str) -> tuple[Path, dict[str, dict[str, int]], dict[tuple[str, str], int]]:
    """qrels of one split, plus the line each (query, doc) pair came from (for error messages)."""
    path = folder / "qrels" / f"{split}.tsv"
    if not path.is_file():
        raise DataError(f"{path}: no qrels for split {split!r}")
    qrels: dict[str, dict[str, int]] = {}
    where: dict[tuple[str, str], int] = {}
    for number, line in _lines(path):
        if not line.strip() or (number == 1 and line.lower().startswith("query")):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"{path}:{number}: expected 3 tab-separated columns, got {len(parts)}")
        qid, doc_id, score = parts
        try:
            grade = int(score)
        except ValueError:
            raise DataError(f"{path}:{number}: relevance {score!r} is not an integer") from None
        if (qid, doc_id) in where:
            raise DataError(f"{path}:{number}: duplicate judgement for query {qid!r}, document {doc_id!r}")
        qrels.setdefault(qid, {})[doc_id] = grade
        where[(qid, doc_id)] = number
    return path, qrels, where


def load_collection(folder: str | Path, split: str = "test") -> Collection:
    """Load and cross-check one collection folder."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such data directory")
    corpus, queries = load_corpus(root), load_queries(root)
    path, qrels, where = load_qrels(root, split)
    for (qid, doc_id), number in where.items():
        if qid not in queries:
            raise DataError(f"{path}:{number}: query id {qid!r} is not in the queries file")
        if doc_id not in corpus:
            raise DataError(f"{path}:{number}: document id {doc_id!r} is not in the corpus")
    return Collection(root.name, corpus, queries, qrels)


def corpus_fingerprint(corpus: dict[str, dict[str, str]]) -> str:
    """sha256 over ids, titles and texts in id order: equal corpora, equal fingerprints."""
    h = hashlib.sha256()
    for doc_id in sorted(corpus):
        d = corpus[doc_id]
        h.update(json.dumps([doc_id, d["title"], d["text"]], ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def collection_dirs(folder: str | Path) -> list[Path]:
    """A collection folder itself, or the collection folders inside a folder of collections."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such data directory")
    if (root / "qrels").is_dir():
        return [root]
    found = sorted(p for p in root.iterdir() if (p / "qrels").is_dir())
    if not found:
        raise DataError(f"{root}: neither a BEIR collection nor a folder of collections")
    return found
