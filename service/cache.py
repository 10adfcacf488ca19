"""The embedding-cache gateway: passage embeddings under one general prefix, encoded only where missing.

Every service that needs passage embeddings (index build, evaluation, the domain and general
phases) comes through :func:`passage_embeddings`, so one key names one set of vectors: backbone
weights, the general prefix's content (:func:`files_key`), corpus fingerprint, length and dtype.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ddr.registry import Registry, RegistryIOError

if TYPE_CHECKING:  # numpy and torch stay off the CLI's start-up path
    import numpy as np

    from ddr.modules import DDREncoder
    from ddr.registry.blobs import StoredFile

IDENTITY = "identity"  # the general key of the plain backbone (no general prefix)


def files_key(files: Iterable[StoredFile]) -> str:
    """A general module's content identity (file names and sha256s): equal content, equal key."""
    return "general:" + ",".join(f"{f.name}={f.sha256}" for f in sorted(files, key=lambda f: f.name))


def folder_key(folder: Path) -> str:
    """:func:`files_key` of a saved, not yet registered module folder."""
    from ddr.registry.blobs import StoredFile, sha256_file

    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    return files_key([StoredFile(p.relative_to(folder).as_posix(), *sha256_file(p)) for p in paths])


def passage_embeddings(
    reg: Registry, encoder: DDREncoder, texts: list[str], *, general_key: str, corpus: str, progress: bool = True,
) -> tuple[np.ndarray, int]:
    """Cached passage embeddings under one general prefix; returns (array, how many were encoded now).

    ``corpus`` is the corpus fingerprint. ``general_key`` names the prefix: ``state.general_key`` of the live state, :data:`IDENTITY`
    for the plain backbone, or :func:`folder_key` of a candidate not registered yet.
    """
    from tqdm.auto import tqdm

    from ddr.retrieval.cache import EmbeddingCache, cache_key

    from .distributed import encoder_pool

    key = cache_key(
        backbone=encoder.backbone.spec.weights_sha256,
        general=general_key,
        corpus=corpus,
        max_length=encoder.config.passage_max_length,
        dtype=encoder.config.dtype,
    )
    cache = EmbeddingCache(reg.home / "cache" / "embeddings", key)
    bar = tqdm(total=len(texts), desc=f"encoding passages ({encoder.config.dtype})", unit="doc", disable=not progress)
    try:
        emb = cache.get_or_encode(texts, lambda chunk: encoder.encode_passages(chunk).numpy(), bar.update, encode_many=encoder_pool(encoder, key))
    except OSError as exc:  # unwritable or full home: one line, not a traceback
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise RegistryIOError(f"cannot write the embedding cache {cache.folder}: {why}") from None
    finally:
        bar.close()
    return emb, cache.encoded
