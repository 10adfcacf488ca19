"""Micro-batching: concurrent requests' texts encoded in one encoder call (bounded wait, bounded batch).

Requests that arrive while the encoder is busy, or within ``max_wait`` seconds of the first one, are
encoded together, up to ``max_batch`` texts. ``max_wait`` is 0 by default: an idle encoder starts at
once (no added latency), and under load the requests that queue while it works form the next batch. Only requests that share a snapshot and a route are
encoded in one call, so every request is answered by the versions it started on. The encoder runs in
one worker thread (torch uses its own threads inside it); the event loop never waits on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any


@dataclass
class _Item:
    snapshot: Any
    key: Any  # the route (hashable): requests with the same snapshot and key share an encoder call
    texts: list[str]
    future: asyncio.Future


class MicroBatcher:
    """``await batcher.encode(snapshot, key, texts)`` -> what ``encode(snapshot, key, texts)`` returns for those texts.

    ``encode`` returns a pair of row-aligned sequences (embeddings, weights); each request gets its rows.
    """

    def __init__(self, encode: Callable[[Any, Any, list[str]], tuple[Any, Any]], *, max_batch: int = 32, max_wait: float = 0.0,
                 on_batch: Callable[[int], None] | None = None, executor: ThreadPoolExecutor | None = None) -> None:
        self._encode, self.max_batch, self.max_wait, self._on_batch = encode, max_batch, max_wait, on_batch
        self._queue: asyncio.Queue[_Item] | None = None
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddr-encoder")  # runs torch and faiss (see Service.ranker)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def encode(self, snapshot: Any, key: Any, texts: list[str]) -> tuple[Any, Any]:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(snapshot, key, list(texts), future))
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size, deadline = len(batch[0].texts), time.monotonic() + self.max_wait
            while size < self.max_batch:
                try:
                    item = self._queue.get_nowait() if time.monotonic() >= deadline else await asyncio.wait_for(
                        self._queue.get(), max(0.0, deadline - time.monotonic()))
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                batch.append(item)
                size += len(item.texts)
            for group in _groups(batch):
                await self._encode_group(group)

    async def _encode_group(self, group: list[_Item]) -> None:
        texts = [t for item in group for t in item.texts]
        if self._on_batch is not None:
            self._on_batch(len(texts))
        try:
            emb, weights = await asyncio.get_running_loop().run_in_executor(self.executor, self._encode, group[0].snapshot, group[0].key, texts)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request
            for item in group:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        start = 0
        for item in group:
            end = start + len(item.texts)
            if not item.future.done():
                item.future.set_result((emb[start:end], weights[start:end]))
            start = end


def _groups(batch: list[_Item]) -> list[list[_Item]]:
    """Items sharing a snapshot and key, in arrival order of each group's first item."""
    groups: dict[tuple, list[_Item]] = {}
    for item in batch:
        groups.setdefault((id(item.snapshot), item.key), []).append(item)
    return list(groups.values())
