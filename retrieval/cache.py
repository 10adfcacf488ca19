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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

SHARD = 1024


def cache_key(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


class EmbeddingCache:
    def __init__(self, root: Path, key: str) -> None:
        self.folder = Path(root) / key
        self.encoded = 0  # passages encoded by this object (tests and benchmarks count them)

    def get_or_encode(
        self, texts: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embeddings of ``texts`` in order, encoding only the shards not on disk yet (OSError if unwritable)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        try:
            recorded = json.loads(meta.read_text()).get("count")
        except (FileNotFoundError, ValueError, AttributeError):
            recorded = None  # absent, or cut short by a crash: rewritten below
        if recorded is not None and recorded != len(texts):
            raise ValueError(f"embedding cache {self.folder} holds a different number of passages")
        if recorded is None:
            tmp_meta = meta.with_suffix(f".{os.getpid()}.tmp")
            tmp_meta.write_text(json.dumps({"count": len(texts), "shard": SHARD}))
            os.replace(tmp_meta, meta)
        parts = []
        for n, start in enumerate(range(0, len(texts), SHARD)):
            path = self.folder / f"shard-{n:05d}.npy"
            chunk = texts[start : start + SHARD]
            if path.exists():
                emb = np.load(path, allow_pickle=False)
                if emb.shape[0] != len(chunk):
                    raise ValueError(f"{path}: expected {len(chunk)} rows, found {emb.shape[0]}")
            else:
                emb = np.ascontiguousarray(encode(chunk), dtype=np.float32)
                self.encoded += len(chunk)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")  # per process: two builds never share one
                with open(tmp, "wb") as fh:
                    np.save(fh, emb, allow_pickle=False)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            if progress:
                progress(len(chunk))
            parts.append(emb)
        return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
