"""Passage embeddings cached in shards, so encoding is restartable and never repeated.

The cache key names everything the embeddings depend on: backbone weights, the general module's
files (or the identity), corpus fingerprint, passage length and dtype. Domain modules and routers
are not part of it: passages never see them, which is why adding a domain or rolling the router
back re-encodes nothing. Each shard is written to a temp name and renamed, so an interrupted run
resumes from the last whole shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SHARD = 1024  # passages per shard: the unit of resumption and of work for sharded encoding
EncodeMany = Callable[[list[tuple[int, Sequence[str]]]], Iterator[tuple[int, np.ndarray]]]


def shard_size() -> int:
    """Passages per shard of a new cache (``DDR_CACHE_SHARD`` overrides; an existing cache keeps its own)."""
    value = os.environ.get("DDR_CACHE_SHARD")
    return int(value) if value and value.isdigit() and int(value) > 0 else SHARD


def cache_key(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class EmbeddingCache:
    def __init__(self, root: Path, key: str) -> None:
        self.folder = Path(root) / key
        self.encoded = 0  # passages encoded by this object (tests and benchmarks count them)

    def get_or_encode(
        self, texts: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray], progress: Callable[[int], None] | None = None,
        encode_many: EncodeMany | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts`` in order, encoding only the shards not on disk yet (OSError if unwritable).

        ``encode_many`` takes the missing shards as (number, texts) and yields (number, embeddings) as
        each is done, in any order (:mod:`ddr.service.distributed` spreads them over worker processes);
        by default they are encoded here one after another. Each is written as soon as it arrives.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        try:
            recorded = json.loads(meta.read_text())
            count, shard = recorded.get("count"), int(recorded.get("shard", SHARD))
        except (FileNotFoundError, ValueError, AttributeError, TypeError):
            count, shard = None, shard_size()  # absent, or cut short by a crash: rewritten below
        if count is not None and count != len(texts):
            raise ValueError(f"embedding cache {self.folder} holds a different number of passages")
        if count is None:
            tmp_meta = meta.with_suffix(f".{os.getpid()}.tmp")
            tmp_meta.write_text(json.dumps({"count": len(texts), "shard": shard}))
            os.replace(tmp_meta, meta)
        chunks = [texts[start : start + shard] for start in range(0, len(texts), shard)]
        missing = [(n, chunk) for n, chunk in enumerate(chunks) if not self._path(n).exists()]
        if progress and len(missing) < len(chunks):
            progress(len(texts) - sum(len(c) for _, c in missing))
        run = encode_many or (lambda jobs: ((n, encode(chunk)) for n, chunk in jobs))
        fresh: dict[int, np.ndarray] = {}  # encoded now: kept, not read back
        for n, emb in run(missing):
            emb = np.ascontiguousarray(emb, dtype=np.float32)
            if emb.shape[0] != len(chunks[n]):
                raise ValueError(f"shard {n}: expected {len(chunks[n])} rows, got {emb.shape[0]}")
            self._write(n, emb)
            fresh[n] = emb
            self.encoded += len(chunks[n])
            if progress:
                progress(len(chunks[n]))
        parts = []
        for n, chunk in enumerate(chunks):
            emb = fresh.get(n)
            if emb is None:
                emb = np.load(self._path(n), allow_pickle=False)
                if emb.shape[0] != len(chunk):
                    raise ValueError(f"{self._path(n)}: expected {len(chunk)} rows, found {emb.shape[0]}")
            parts.append(emb)
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)

    def _path(self, n: int) -> Path:
        return self.folder / f"shard-{n:05d}.npy"

    def _write(self, n: int, emb: np.ndarray) -> None:
        path = self._path(n)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: two builds never share one
        with open(tmp, "wb") as fh:
            np.save(fh, emb, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
