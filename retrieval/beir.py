"""BEIR-format collections: ``corpus.jsonl[.gz]``, ``queries.jsonl[.gz]``, ``qrels/<split>.tsv``.

Strict on purpose: a malformed line, a duplicate id, an empty id or one holding whitespace (TREC run
files separate their fields by whitespace), a qrels query id that is not in the queries, or a
non-UTF-8 byte raises one :class:`~ddr.errors.DataError` naming the file and line, and nothing is
returned from a file that fails. LF and CRLF line endings are both accepted.

A qrels row naming a document that is not in the corpus is refused with ``strict=True`` (the
default, which training keeps). With ``strict=False`` (what ``evaluate`` uses unless ``--strict``)
it is kept, as BEIR's own evaluation keeps it: a relevant document that no system can retrieve. The
published BEIR ArguAna has 5 such rows among 1,406. One warning names how many and the first ids,
and :attr:`Collection.missing_documents` records them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ddr.errors import DataError

logger = logging.getLogger(__name__)


@dataclass
class Collection:
    """One collection: documents, queries and graded judgements for one split."""

    name: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    # (query id, document id) of judgements kept in ``qrels`` whose document is not in the corpus
    # (only with strict=False): relevant documents that no system can retrieve.
    missing_documents: list[tuple[str, str]] = field(default_factory=list)

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


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an id in a TREC run file (fields separated by whitespace), or None."""
    if not value:
        return "is empty"
    if any(ch.isspace() for ch in value):
        return "contains whitespace"
    return None


def _check_id(path: Path, number: int, what: str, value: str) -> str:
    problem = id_problem(value)
    if problem:
        raise DataError(f"{path}:{number}: {what} {value!r} {problem} (ids may not hold spaces, tabs or newlines)")
    return value


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
        doc_id = _check_id(path, number, "document id", str(obj["_id"]))
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
        qid = _check_id(path, number, "query id", str(obj["_id"]))
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
        _check_id(path, number, "query id", qid)
        _check_id(path, number, "document id", doc_id)
        try:
            grade = int(score)
        except ValueError:
            raise DataError(f"{path}:{number}: relevance {score!r} is not an integer") from None
        if (qid, doc_id) in where:
            raise DataError(f"{path}:{number}: duplicate judgement for query {qid!r}, document {doc_id!r}")
        qrels.setdefault(qid, {})[doc_id] = grade
        where[(qid, doc_id)] = number
    return path, qrels, where


def load_collection(folder: str | Path, split: str = "test", *, strict: bool = True) -> Collection:
    """Load and cross-check one collection folder.

    ``strict=False`` keeps judgements of documents that are not in the corpus (BEIR's convention:
    relevant documents no system can retrieve), logs one warning, and records them in
    ``missing_documents``. A judgement naming a query that is not in the queries file is refused
    either way.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: no such data directory")
    corpus, queries = load_corpus(root), load_queries(root)
    path, qrels, where = load_qrels(root, split)
    missing: list[tuple[str, str]] = []
    for (qid, doc_id), number in where.items():
        if qid not in queries:
            raise DataError(f"{path}:{number}: query id {qid!r} is not in the queries file")
        if doc_id not in corpus:
            if strict:
                raise DataError(f"{path}:{number}: document id {doc_id!r} is not in the corpus")
            missing.append((qid, doc_id))
    if missing:
        logger.warning("%s", missing_note(path, missing))
    return Collection(root.name, corpus, queries, qrels, missing)


def missing_note(where: Path | str, missing: list[tuple[str, str]]) -> str:
    """One line: how many judgements name documents that are not in the corpus, and the first ids."""
    first = ", ".join(repr(d) for d in dict.fromkeys(d for _, d in missing[:3]))
    more = ", ..." if len(missing) > 3 else ""
    return (
        f"{where}: {len(missing)} judgement(s) name documents not in the corpus ({first}{more}); "
        "scored as relevant documents that no system retrieves (BEIR's convention)"
    )


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
