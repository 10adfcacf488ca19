"""What the domain phase trains and scores on: a corpus's cached passage embeddings and its query sets.

A new domain's data comes from the folder on the command line; an earlier live domain's comes
from its registered version: the replay set (training and held-out queries with judgements, stored
with the module as ``replay.json``) and the corpus the version records.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ddr.errors import DataError, UsageError
from ddr.registry import ModuleVersion, Registry

from .cache import passage_embeddings

REPLAY_FILE = "replay.json"


@dataclass
class DomainData:
    """One domain's corpus (ids and passage embeddings under the live general prefix) and query sets."""

    name: str
    doc_ids: list[str]
    passages: object  # torch.Tensor (n_docs, dim)
    train: object  # ddr.trainer.data.QuerySet
    heldout: object
    encoded: int = 0
    fingerprint: str = ""
    heldout_source: str = ""


def from_folder(reg: Registry, encoder, name: str, data: str, *, general_key: str, progress: bool = True) -> DomainData:
    """A new domain's data from its BEIR folder (train split; dev as held-out where present)."""
    from ddr.trainer.data import train_and_heldout

    folder = Path(data)
    if not folder.is_dir():
        raise DataError(f"{data}: no such data directory")
    corpus = _corpus(folder)
    train, heldout, source = train_and_heldout(folder)  # checked before anything is encoded
    return _encode(reg, encoder, general_key, name, corpus, (train, heldout, source), progress)


def from_version(reg: Registry, encoder, mv: ModuleVersion, *, general_key: str, progress: bool = True) -> DomainData:
    """An earlier domain's data: its replay set and the corpus its version records."""
    from ddr.trainer.data import QuerySet

    if not mv.data_paths:
        raise UsageError(f"domain {mv.name!r} has no recorded corpus path; run update-domain {mv.name} --data DIR")
    folder = Path(mv.data_paths[0])
    if not folder.is_dir():
        raise UsageError(f"{folder}: the corpus of domain {mv.name!r} is not there (was it moved?)")
    corpus = _corpus(folder)
    replay = read_replay(reg, mv)
    train, heldout = QuerySet.from_dict(replay["train"]), QuerySet.from_dict(replay["heldout"])
    return _encode(reg, encoder, general_key, mv.name, corpus, (train, heldout, replay.get("heldout_source", "")), progress)


def _corpus(folder: Path) -> dict:
    from ddr.retrieval.beir import load_corpus

    return load_corpus(folder)


def _encode(reg, encoder, general_key, name, corpus, query_sets, progress) -> DomainData:
    import torch

    from ddr.retrieval.beir import corpus_fingerprint

    texts = [f"{d['title']} {d['text']}".strip() for d in corpus.values()]
    fp = corpus_fingerprint(corpus)
    emb, encoded = passage_embeddings(reg, encoder, texts, general_key=general_key, corpus=fp, progress=progress)
    train, heldout, source = query_sets
    return DomainData(name, list(corpus), torch.from_numpy(emb), train, heldout, encoded, fp, source)


def read_replay(reg: Registry, mv: ModuleVersion) -> dict:
    """The replay set stored with a domain version."""
    with tempfile.TemporaryDirectory(prefix="ddr-replay-") as tmp:
        folder = reg.blobs.materialize(list(mv.files), Path(tmp) / "m", mv.ref)
        path = folder / REPLAY_FILE
        if not path.is_file():
            raise UsageError(f"{mv.ref} has no replay set; retrain it with update-domain")
        return json.loads(path.read_text())


def replay_json(d: DomainData) -> str:
    """The replay set to store with a new domain version."""
    return json.dumps({"train": d.train.to_dict(), "heldout": d.heldout.to_dict(), "heldout_source": d.heldout_source})
