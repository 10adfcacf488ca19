"""``ddr-registry serve``: an HTTP JSON search service that follows ``router@production`` (the app: routes.create_app).

FastAPI on uvicorn: FastAPI gives request models and OpenAPI docs (``/docs``, ``/openapi.json``)
from the same declarations, uvicorn is the usual ASGI server for it; both are widely used and kept.

Every request takes the system's current snapshot when it starts and is answered by it, encoding
included (micro-batches never mix snapshots); the response names the router version that answered.
A background task calls ``System.refresh`` every ``poll`` seconds in a thread of its own, so a
rollback, ``alias set`` or accepted add-domain on the same registry, from any process, is served
within about ``poll`` seconds plus the load. Bad input gets a 4xx with ``{"error": "one line"}``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .batcher import MicroBatcher
from .metrics import Metrics
from .system import Snapshot, System

log = logging.getLogger("ddr.serve")


@dataclass(frozen=True)
class Limits:
    max_body: int = 1 << 20  # bytes per request body
    max_texts: int = 256  # queries or passages per request
    max_chars: int = 8192  # per query or passage (the encoder reads 256 tokens of it anyway)
    max_k: int = 1000


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Body):
    query: str | None = Field(None, description="one query (or give queries)")
    queries: list[str] | None = Field(None, description="several queries, answered in order")
    k: int = Field(10, description="documents per query")
    route: str = Field("topk", description="topk, soft, none or prior:DOMAIN")
    domain: str | None = Field(None, description="route every query to this live domain (prior)")
    hybrid: bool = Field(False, description="fuse BM25 in (min-max convex)")
    lexical_weight: float | Literal["routed"] = Field(0.5, description="BM25's weight in [0, 1], or 'routed' (the routed domain's own)")


class EncodeRequest(_Body):
    queries: list[str] | None = Field(None, description="queries to encode with a route")
    passages: list[str] | None = Field(None, description="passages to encode under the live general prefix")
    route: str = Field("topk", description="for queries: topk, soft, none or prior:DOMAIN")
    domain: str | None = None


def _texts(one: str | None, many: list[str] | None, what: str, limits: Limits) -> list[str]:
    if (one is None) == (many is None):
        raise BadRequest(400, f"give either {what} or {what}s" if what == "query" else f"give {what}")
    texts = [one] if one is not None else list(many)
    if not texts:
        raise BadRequest(400, f"no {what}s given")
    if len(texts) > limits.max_texts:
        raise BadRequest(413, f"{len(texts)} {what}s in one request; at most {limits.max_texts}")
    for i, t in enumerate(texts):
        if not t.strip():
            raise BadRequest(400, f"{what} {i} is empty")
        if len(t) > limits.max_chars:
            raise BadRequest(413, f"{what} {i} has {len(t)} characters; at most {limits.max_chars}")
    return texts


async def _parse(request, model: type[BaseModel], limits: Limits) -> BaseModel:
    size = int(request.headers.get("content-length") or 0)
    if size > limits.max_body:
        raise BadRequest(413, f"request body of {size} bytes; at most {limits.max_body}")
    raw = await request.body()
    if len(raw) > limits.max_body:
        raise BadRequest(413, f"request body of {len(raw)} bytes; at most {limits.max_body}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(400, f"the body is not JSON: {str(exc).splitlines()[0]}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "body"
        raise BadRequest(422, f"{where}: {err['msg']}") from None


def _route(system: System, snapshot: Snapshot, route: str, domain: str | None) -> tuple[str, tuple[str, ...]]:
    from ddr.errors import DdrError
    from ddr.service.search import resolve_route

    domains = (domain,) if domain else ()
    try:
        resolve_route(snapshot.encoder, route, domains)
    except (DdrError, ValueError) as exc:
        raise BadRequest(400, str(exc).splitlines()[0]) from None
    return route, domains


def _encode_for(system: System):
    def encode(snapshot: Snapshot, key: tuple, texts: list[str]):
        route, domains = key
        if route == "passages":
            return system.encode_passages(texts, snapshot=snapshot), [None] * len(texts)
        from ddr.service.search import resolve_route

        chosen = resolve_route(snapshot.encoder, route, domains)
        emb, weights = snapshot.encoder.encode_queries(texts, route=chosen, return_weights=True)
        return emb.float().numpy(), weights

    return encode


class Service:
    """What the endpoints share: the system, the batcher, metrics, limits and the token."""

    def __init__(self, system: System, *, token: str | None, poll: float, max_batch: int, max_wait: float, limits: Limits) -> None:
        self.system, self.token, self.poll, self.limits = system, token, poll, limits
        self.metrics = Metrics()
        self.batcher = MicroBatcher(_encode_for(system), max_batch=max_batch, max_wait=max_wait, on_batch=self.metrics.batch.observe,
                                    executor=system.executor)
        self.refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ddr-refresh")
        # Ranking (faiss, BM25) runs on the encoder's own thread: every OpenMP user in another thread
        # brings a second thread team, and two teams on the same cores slowed a single query from
        # about 18 to about 30 ms here (benchmarks/serve_load.py; docs/design.md, Serving).
        self.ranker = self.batcher.executor
        self.started = time.time()

    def check_token(self, request) -> None:
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

    async def search(self, body: SearchRequest) -> dict:
        snap = self.system.snapshot
        if snap.index is None:
            raise BadRequest(400, "this server has no index")
        queries = _texts(body.query, body.queries, "query", self.limits)
        if not 1 <= body.k <= self.limits.max_k:
            raise BadRequest(422, f"k must be from 1 to {self.limits.max_k}, got {body.k}")
        if body.hybrid and snap.index.lexical is None:
            raise BadRequest(400, f"index {snap.index.record.name!r} has no BM25 side; rebuild it with index build")
        if isinstance(body.lexical_weight, float) and not 0 <= body.lexical_weight <= 1:
            raise BadRequest(422, f"lexical_weight must be in [0, 1], got {body.lexical_weight}")
        key = _route(self.system, snap, body.route, body.domain)
        emb, weights = await self.batcher.encode(snap, key, queries)
        self.metrics.picks(snap.encoder.domains, weights)
        results = await asyncio.get_running_loop().run_in_executor(
            self.ranker, lambda: self.system.rank_encoded(snap, queries, emb, weights, k=body.k, hybrid=body.hybrid,
                                                          lexical_weight=body.lexical_weight))
        return {"router_version": snap.router_version, "index": f"{snap.index.record.name}@{snap.index.record.version}",
                "results": [{"query": r.query, "router_weights": r.weights,
                             **({"lexical_weight": r.lexical_weight} if r.lexical_weight is not None else {}),
                             "hits": [{"id": d, "score": s, "title": t} for d, s, t in r.hits]} for r in results]}

    async def encode(self, body: EncodeRequest) -> dict:
        snap = self.system.snapshot
        if (body.queries is None) == (body.passages is None):
            raise BadRequest(400, "give either queries or passages")
        if body.passages is not None:
            texts = _texts(None, body.passages, "passage", self.limits)
            emb, _ = await self.batcher.encode(snap, ("passages", ()), texts)
            return {"router_version": snap.router_version, "embeddings": emb.tolist()}
        texts = _texts(None, body.queries, "query", self.limits)
        key = _route(self.system, snap, body.route, body.domain)
        emb, weights = await self.batcher.encode(snap, key, texts)
        self.metrics.picks(snap.encoder.domains, weights)
        routed = [{n: round(float(x), 4) for n, x in zip(snap.encoder.domains, w) if x > 0} for w in weights]
        return {"router_version": snap.router_version, "embeddings": emb.tolist(), "router_weights": routed}

    def health(self) -> dict:
        h = self.system.health
        status = "stale" if h.stale else "degraded" if h.error else "ok"
        return {"status": status, "stale": h.stale or None, "error": h.error or None, "serving": self.system.versions()}

    def version(self) -> dict:
        return {**self.system.versions(), "swaps": self.system.health.swaps, "started_at": self.started}
