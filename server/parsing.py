"""Requests: the body models, the limits, and parsing a body once into a model (or a one-line ``BadRequest``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request

from ddr.errors import DdrError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Limits:
    max_body: int = 1 << 20  # bytes per request body
    max_texts: int = 256  # queries or passages per request
    max_chars: int = 8192  # per query or passage (the encoder reads 256 tokens of it anyway)
    max_k: int = 1000


class BadRequest(Exception):
    """A 4xx answered as ``{"error": "one line"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    @classmethod
    def of(cls, status: int, exc: DdrError, field: str | None = None) -> BadRequest:
        """The library's error as a 4xx: its first line (after ``field:``, like the model's own errors)."""
        line = (str(exc).splitlines() or [""])[0]
        return cls(status, f"{field}: {line}" if field else line)


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


def texts(one: str | None, many: list[str] | None, what: str, limits: Limits) -> list[str]:
    """The request's texts (``one`` or ``many``, not both), each non-empty and within the limits."""
    if (one is None) == (many is None):
        raise BadRequest(400, f"give either {what} or {what}s" if what == "query" else f"give {what}")
    out = [one] if one is not None else list(many)
    if not out:
        raise BadRequest(400, f"no {what}s given")
    if len(out) > limits.max_texts:
        raise BadRequest(413, f"{len(out)} {what}s in one request; at most {limits.max_texts}")
    for i, t in enumerate(out):
        if not t.strip():
            raise BadRequest(400, f"{what} {i} is empty")
        if len(t) > limits.max_chars:
            raise BadRequest(413, f"{what} {i} has {len(t)} characters; at most {limits.max_chars}")
    return out


async def parse(request: Request, model: type[M], limits: Limits) -> M:
    """The body as ``model``: size checked before JSON is read, then the pydantic model."""
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
