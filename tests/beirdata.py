"""Small BEIR-format collections written to disk: a hand-made one, and a tiny domain over the tiny vocabulary."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tinybert import sentence


def write_collection(root: Path, *, crlf: bool = False, gz: bool = False, qrels_rows=None, corpus_lines=None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    corpus_lines = corpus_lines or [
        json.dumps({"_id": "d1", "title": "Wings", "text": "lift and drag"}),
        json.dumps({"_id": "d2", "title": "", "text": "boundary layer"}),
        json.dumps({"_id": "d3", "title": "Vitamins", "text": "vitamin d"}),
    ]
    queries = [json.dumps({"_id": "q1", "text": "wing lift"}), json.dumps({"_id": "q2", "text": "vitamin"})]
    nl = "\r\n" if crlf else "\n"
    for stem, lines in (("corpus", corpus_lines), ("queries", queries)):
        data = (nl.join(lines) + nl).encode()
        if gz:
            (root / f"{stem}.jsonl.gz").write_bytes(gzip.compress(data))
        else:
            (root / f"{stem}.jsonl").write_bytes(data)
    rows = qrels_rows or ["q1\td1\t1", "q2\td3\t2"]
    (root / "qrels" / "test.tsv").write_bytes((nl.join(["query-id\tcorpus-id\tscore", *rows]) + nl).encode())
    return root


def make_domain(root, name: str, offset: int, n_docs: int = 20):
    """Documents of 3 words from this domain's vocabulary slice; each query shares 2 words with its doc."""
    docs = [json.dumps({"_id": f"{name}{i}", "title": "", "text": sentence(offset + i % 55, offset + (i + 1) % 55, offset + (i + 2) % 55)}) for i in range(n_docs)]
    train_rows = [f"{name}q{i}\t{name}{i}\t1" for i in range(15)]
    folder = write_collection(root / name, corpus_lines=docs, qrels_rows=[f"{name}q{i}\t{name}{i}\t1" for i in range(15, 20)])
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(train_rows) + "\n")
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"{name}q{i}", "text": sentence(offset + i % 55, offset + (i + 2) % 55)}) + "\n" for i in range(20))
    )
    return folder
