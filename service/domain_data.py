"""What the domain phase trains and scores on: a corpus's passage embeddings and its query sets.

A new domain's data comes from the folder on the command line. An earlier live domain's comes from
its registered version, so add-domain, update-domain and retrain-router need none of the earlier
corpora on disk: the version carries its *replay set* (``replay.json``: training and held-out
queries with judgements, which refit the router and drive the gate) and its *gate data*
(``gate.json`` + ``gate.safetensors``: the ids and embeddings, under the general prefix it was
trained with, of every judged passage of its training and held-out queries and each such query's
top :data:`POOL_PER_QUERY` passages under general-only and under the trained module). The gate ranks
an earlier domain's held-out queries, and the router its training queries, against that pool
instead of the whole corpus
(``benchmarks/gate_data.py`` measures how often the two agree). When the gate data was made under
another general prefix, or is absent (versions made before it existed, or pulled without it), the
recorded corpus is read instead, and only if its fingerprint is the version's.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ddr.errors import DataError, UsageError
from ddr.registry import ModuleVersion, Registry
from ddr.registry.layout import DOMAIN_DATA_FILES, GATE_FILE, GATE_TENSORS, REPLAY_FILE

from .cache import passage_embeddings

if TYPE_CHECKING:  # torch stays off the CLI's start-up path
    import torch

    from ddr.modules import DDREncoder
    from ddr.trainer.data import QuerySet

POOL_PER_QUERY = 100
OOF_KEY = "train_oof_gain"  # replay-set key: the module's out-of-fold gain per training query (trained with --selection crossfit)


@dataclass
class DomainData:
    """One domain's passages (ids and embeddings under the live general prefix) and query sets."""

    name: str
    doc_ids: list[str]
    passages: torch.Tensor  # (n_docs, dim): the whole corpus, or the stored gate pool
    train: QuerySet
    heldout: QuerySet
    encoded: int = 0
    fingerprint: str = ""
    heldout_source: str = ""
    source: str = "corpus"  # "corpus" or "gate data"
    texts: list[str] | None = None  # the passages' texts, for a corpus read from disk
    oof_gain: dict[str, float] | None = None  # the module's nDCG@10 gain on each training query, out of fold (cross-fitting)


@dataclass(frozen=True)
class QueryData:
    """One domain's query sets as read, before anything is encoded (no torch): from a data folder,
    with its corpus, or from a version's replay set."""

    name: str
    train: QuerySet
    heldout: QuerySet
    heldout_source: str
    corpus: dict[str, dict[str, str]] | None = None  # doc id -> title and text, checked by the loader


def read_folder(name: str, data: str) -> QueryData:
    """A new domain's BEIR folder read and checked as the loader checks it (corpus, queries, qrels of the
    train split, dev as held-out where present), without loading torch or encoding anything."""
    from ddr.trainer.data import train_and_heldout

    folder = Path(data)
    if not folder.is_dir():
        raise DataError(f"{data}: no such data directory")
    corpus = _corpus(folder)
    train, heldout, source = train_and_heldout(folder)
    return QueryData(name, train, heldout, source, corpus)


def from_folder(reg: Registry, encoder: DDREncoder, name: str, data: str, *, general_key: str, progress: bool = True) -> DomainData:
    """A new domain's data from its BEIR folder (train split; dev as held-out where present)."""
    return encode(reg, encoder, read_folder(name, data), general_key=general_key, progress=progress)


def from_version(reg: Registry, encoder: DDREncoder, mv: ModuleVersion, *, general_key: str, progress: bool = True) -> DomainData:
    """An earlier domain's data: its replay set, and its gate data (or, failing that, its recorded corpus)."""
    import torch

    from ddr.trainer.data import QuerySet

    stored = _stored(reg, mv)
    if REPLAY_FILE not in stored:
        raise UsageError(f"{mv.ref} has no replay set (made by an older ddr, or pulled without --with-gate-data); run update-domain {mv.name} --data DIR")
    replay = json.loads(stored[REPLAY_FILE])
    queries = QueryData(mv.name, QuerySet.from_dict(replay["train"]), QuerySet.from_dict(replay["heldout"]), replay.get("heldout_source", ""))
    gate = json.loads(stored[GATE_FILE]) if GATE_FILE in stored else None
    if gate is not None and gate["general_key"] == general_key:
        from ddr.modules.checks import read_tensors

        with tempfile.TemporaryDirectory(prefix="ddr-gate-") as tmp:
            path = Path(tmp) / GATE_TENSORS
            path.write_bytes(stored[GATE_TENSORS])
            passages = torch.from_numpy(read_tensors(path, "gate data")["passages"].copy())
        data = DomainData(mv.name, list(gate["doc_ids"]), passages, queries.train, queries.heldout, 0, mv.data_fingerprint, queries.heldout_source, "gate data")
    else:
        corpus = _recorded_corpus(mv, stale=gate is not None)
        data = encode(reg, encoder, replace(queries, corpus=corpus), general_key=general_key, progress=progress)
    return replace(data, oof_gain=_oof_gain(mv, replay, queries.train))


def _oof_gain(mv: ModuleVersion, replay: dict, train: QuerySet) -> dict[str, float] | None:
    """The replay set's out-of-fold gains, checked: one finite figure in [-1, 1] per training query."""
    import math

    gains = replay.get(OOF_KEY)
    if gains is None:
        return None
    ok = isinstance(gains, dict) and set(gains) == set(train.ids) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and -1 <= v <= 1 for v in gains.values())
    if not ok:
        raise UsageError(f"{mv.ref}: its replay set's {OOF_KEY} is not one gain in [-1, 1] per training query; run update-domain {mv.name} --data DIR")
    return {q: float(v) for q, v in gains.items()}


def _recorded_corpus(mv: ModuleVersion, *, stale: bool) -> dict[str, dict[str, str]]:
    """The corpus at the version's recorded path, only if it is the one the version was trained on."""
    from ddr.retrieval.beir import corpus_fingerprint

    why = "its gate data was made under another general prefix" if stale else "it carries no gate data"
    if not mv.data_paths or not Path(mv.data_paths[0]).is_dir():
        where = f"its corpus is not at {mv.data_paths[0]}" if mv.data_paths else "no corpus path is recorded here"
        raise UsageError(f"{mv.ref}: {why} and {where}; run update-domain {mv.name} --data DIR")
    corpus = _corpus(Path(mv.data_paths[0]))
    if mv.data_fingerprint and corpus_fingerprint(corpus) != mv.data_fingerprint:
        raise UsageError(
            f"{mv.ref}: {why}, and the corpus now at {mv.data_paths[0]} is not the one it was trained on "
            f"(fingerprint differs); run update-domain {mv.name} --data DIR"
        )
    return corpus


def _stored(reg: Registry, mv: ModuleVersion, names: Collection[str] = DOMAIN_DATA_FILES) -> dict[str, bytes]:
    """The version's replay and gate files (or those of ``names``; verified against their sha256), by name."""
    wanted = [f for f in mv.files if f.name in names]
    if not wanted:
        return {}
    with tempfile.TemporaryDirectory(prefix="ddr-replay-") as tmp:
        folder = reg.blobs.materialize(wanted, Path(tmp) / "m", mv.ref)
        return {f.name: (folder / f.name).read_bytes() for f in wanted}


def _corpus(folder: Path) -> dict[str, dict[str, str]]:
    from ddr.retrieval.beir import load_corpus

    return load_corpus(folder)


def encode(reg: Registry, encoder: DDREncoder, queries: QueryData, *, general_key: str, progress: bool = True) -> DomainData:
    """``queries``' corpus encoded under the general prefix ``general_key`` names (through the embedding cache)."""
    import torch

    from ddr.retrieval.beir import corpus_fingerprint

    corpus = queries.corpus
    if corpus is None:
        raise ValueError(f"{queries.name}: no corpus read to encode")
    texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
    fp = corpus_fingerprint(corpus)
    emb, encoded = passage_embeddings(reg, encoder, texts, general_key=general_key, corpus=fp, progress=progress)
    return DomainData(queries.name, list(corpus), torch.from_numpy(emb), queries.train, queries.heldout, encoded, fp, queries.heldout_source, texts=texts)


def read_replay(reg: Registry, mv: ModuleVersion) -> dict | None:
    """The replay set stored with a domain version (training and held-out queries with their
    judgements), or None for a version without one (made by an older ddr, or pulled without gate data)."""
    stored = _stored(reg, mv, (REPLAY_FILE,))
    return json.loads(stored[REPLAY_FILE]) if REPLAY_FILE in stored else None


def gate_pool(d: DomainData, query_embeddings: list[torch.Tensor], per_query: int = POOL_PER_QUERY) -> list[int]:
    """Rows of ``d.passages`` the gate keeps: every judged passage of the training and held-out queries,
    and each query's top ``per_query`` under each of ``query_embeddings`` ((n_queries, dim) tensors)."""
    index = {doc: i for i, doc in enumerate(d.doc_ids)}
    rows = {index[doc] for qs in (d.train, d.heldout) for q in qs.ids for doc in qs.qrels[q] if doc in index}
    from ddr.retrieval.scoring import top_k

    for q in query_embeddings:
        rows.update(top_k(q, d.passages, per_query)[1].flatten().tolist())
    return sorted(rows)


def stored_files(d: DomainData, pool: list[int], general_key: str) -> dict[str, bytes]:
    """The files a new domain version carries for later gates: replay set and gate data."""
    from safetensors.numpy import save

    replay = {"train": d.train.to_dict(), "heldout": d.heldout.to_dict(), "heldout_source": d.heldout_source}
    if d.oof_gain is not None:
        replay[OOF_KEY] = d.oof_gain
    gate = {"doc_ids": [d.doc_ids[i] for i in pool], "general_key": general_key, "corpus_fingerprint": d.fingerprint, "per_query": POOL_PER_QUERY}
    passages = d.passages[pool].float().contiguous().numpy()
    return {
        REPLAY_FILE: json.dumps(replay).encode(),
        GATE_FILE: json.dumps(gate, sort_keys=True).encode(),
        GATE_TENSORS: save({"passages": passages}),
    }
