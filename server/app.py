"""``ddr-registry serve``: an HTTP JSON search service that follows ``router@production`` (``create_app``).

FastAPI on uvicorn: FastAPI gives request models and OpenAPI docs (``/docs``, ``/openapi.json``)
from the same declarations, uvicorn is the usual ASGI server for it; both are widely used and kept.
This module holds the HTTP surface: endpoints, the token, timing, and one-line JSON errors; what the
endpoints do is in handlers.py. Bad input gets a 4xx with ``{"error": "one line"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ddr.service.system import System

from .handlers import Service
from .parsing import BadRequest, EncodeRequest, Limits, SearchRequest, parse

OPEN = {"/healthz"}  # answered without the token (liveness probes)


def _schema(model: type[BaseModel]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def build(service: Service, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]) -> FastAPI:
    app = FastAPI(title="ddr", summary="Dense retrieval with routed domain modules; follows router@production.", lifespan=lifespan)
    app.state.service = service

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        endpoint = request.url.path
        start = time.perf_counter()
        try:
            if endpoint not in OPEN:
                service.check_token(request)
            response = await call_next(request)
        except BadRequest as exc:
            response = JSONResponse({"error": str(exc)}, status_code=exc.status)
        if endpoint in ("/search", "/encode", "/healthz", "/version", "/metrics"):
            service.metrics.requests.labels(endpoint, str(response.status_code)).inc()
            service.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
        return response

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        first = (str(exc).splitlines() or [""])[0]
        return JSONResponse({"error": f"{type(exc).__name__}: {first}"}, status_code=500)

    @app.post("/search", openapi_extra=_schema(SearchRequest), summary="Top k documents per query (dense, or hybrid with BM25)")
    async def search(request: Request):
        return await service.search(await parse(request, SearchRequest, service.limits))

    @app.post("/encode", openapi_extra=_schema(EncodeRequest), summary="Embeddings of queries (routed) or passages")
    async def encode(request: Request):
        return await service.encode(await parse(request, EncodeRequest, service.limits))

    @app.get("/healthz", summary="ok, stale (newest versions wait for an index rebuild) or degraded (a load failed)")
    async def healthz():
        return service.health()

    @app.get("/version", summary="The router, general, domain and index versions serving now")
    async def version():
        return service.version()

    @app.get("/metrics", summary="Prometheus text format")
    async def metrics():
        return Response(service.metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app


def create_app(system: System, *, token: str | None = None, poll: float = 2.0, max_batch: int = 32, max_wait: float = 0.0,
               limits: Limits | None = None) -> FastAPI:
    """The ASGI app serving ``system``; ``poll`` <= 0 never refreshes (a pinned router never changes anyway)."""
    service = Service(system, token=token, poll=poll, max_batch=max_batch, max_wait=max_wait, limits=limits or Limits())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        follower = asyncio.get_running_loop().create_task(service.follow()) if poll > 0 and system.pinned is None else None
        try:
            yield
        finally:
            if follower is not None:
                follower.cancel()
            await service.batcher.stop()
            service.refresher.shutdown(wait=False, cancel_futures=True)

    return build(service, lifespan)
