"""What the endpoints do: each request parsed once, its route resolved once, answered by one snapshot.

Every request takes the system's current snapshot when it starts and is answered by it, encoding
included (micro-batches never mix snapshots); the response names the router version that answered.
``follow`` calls ``System.refresh`` every ``poll`` seconds in a thread of its own, so a rollback,
``alias set`` or accepted add-domain on the same registry, from any process, is served within about
``poll`` seconds plus the load. The library is reached only through ``System``; its errors become a
4xx with ``{"error": "one line"}``.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from ddr.errors import DdrError
from ddr.service.system import Snapshot, System

from .batcher import MicroBatcher
from .parsing import BadRequest, EncodeRequest, Limits, SearchRequest, texts
from .telemetry import Metrics

if TYPE_CHECKING:
    import numpy as np

    from ddr.service.system import Route

PASSAGES = None  # the batcher's key for passages (queries carry their resolved Route)


class Service:
    """What the endpoints share: the system, the batcher, metrics, limits and the token."""

    def __init__(self, system: System, *, token: str | None, poll: float, max_batch: int, max_wait: float, limits: Limits) -> None:
        self.system, self.token, self.poll, self.limits = system, token, poll, limits
        self.metrics = Metrics()
        self.batcher = MicroBatcher(self._encode, max_batch=max_batch, max_wait=max_wait, on_batch=self.metrics.batch.observe,
                                    executor=system.executor)
        self.refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddr-refresh")
        # Ranking (faiss, BM25) runs on the encoder's own thread: every OpenMP user in another thread
        # brings a second thread team, and two teams on the same cores slowed a single query from
        # about 18 to about 30 ms here (benchmarks/performance/serve_load.py; docs/design.md, Serving).
        self.ranker = self.batcher.executor
        self.started = time.time()

    def _encode(self, snapshot: Snapshot, route: Route | None, batch: list[str]) -> tuple[np.ndarray, list[Any]]:
        """One micro-batch on the encoder thread: passages, or queries under the route their requests resolved."""
        if route is PASSAGES:
            return self.system.encode_passages(batch, snapshot=snapshot), [None] * len(batch)
        return self.system.encode_queries(batch, route=route, snapshot=snapshot)

    def _route(self, snapshot: Snapshot, route: str, domain: str | None) -> Route:
        try:
            return self.system.route(route, (domain,) if domain else (), snapshot=snapshot)
        except DdrError as exc:
            raise BadRequest.of(400, exc) from None

    def check_token(self, request: Request) -> None:
        if self.token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            raise BadRequest(401, "missing or wrong bearer token")

    async def follow(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.poll)
            outcome = await loop.run_in_executor(self.refresher, self.system.refresh)
            self.metrics.refreshed(outcome, self.system)

    async def search(self, body: SearchRequest) -> dict[str, Any]:
        snap = self.system.snapshot
        if snap.index is None:
            raise BadRequest(400, "this server has no index")
        queries = texts(body.query, body.queries, "query", self.limits)
        if not 1 <= body.k <= self.limits.max_k:
            raise BadRequest(422, f"k must be from 1 to {self.limits.max_k}, got {body.k}")
        if body.hybrid and snap.index.lexical is None:
            raise BadRequest(400, f"index {snap.index.record.name!r} has no BM25 side; rebuild it with index build")
        try:
            lexical_weight = self.system.check_lexical_weight(body.lexical_weight)
        except DdrError as exc:
            raise BadRequest.of(422, exc, "lexical_weight") from None
        route = self._route(snap, body.route, body.domain)
        emb, weights = await self.batcher.encode(snap, route, queries)
        self.metrics.picks(weights)
        results = await asyncio.get_running_loop().run_in_executor(
            self.ranker, lambda: self.system.rank_encoded(snap, queries, emb, weights, k=body.k, hybrid=body.hybrid, lexical_weight=lexical_weight))
        return self.system.search_json(results, snapshot=snap)

    async def encode(self, body: EncodeRequest) -> dict[str, Any]:
        snap = self.system.snapshot
        if (body.queries is None) == (body.passages is None):
            raise BadRequest(400, "give either queries or passages")
        if body.passages is not None:
            emb, _ = await self.batcher.encode(snap, PASSAGES, texts(None, body.passages, "passage", self.limits))
            return {"router_version": snap.router_version, "embeddings": emb.tolist()}
        queries = texts(None, body.queries, "query", self.limits)
        emb, weights = await self.batcher.encode(snap, self._route(snap, body.route, body.domain), queries)
        self.metrics.picks(weights)
        return {"router_version": snap.router_version, "embeddings": emb.tolist(), "router_weights": weights}

    def health(self) -> dict[str, Any]:
        h = self.system.health
        status = "stale" if h.stale else "degraded" if h.error else "ok"
        return {"status": status, "stale": h.stale or None, "error": h.error or None, "serving": self.system.versions()}

    def version(self) -> dict[str, Any]:
        return {**self.system.versions(), "swaps": self.system.health.swaps, "started_at": self.started}
