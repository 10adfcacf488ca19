"""The live system as one object, for applications, notebooks, the CLI's search and the server.

    from ddr.service.system import open_system

    system = open_system("~/.local/share/ddr", index="scifact")      # or db_url="postgresql+psycopg://..."
    hits = system.search(["do statins lower mortality?"], k=10, hybrid=True)
    emb, weights = system.encode_queries(["..."], route="topk")      # numpy float32 rows, router weights
    system.refresh()                                                  # follow router@production (see below)

The server (``ddr.server``) reaches the library only through this object: ``route`` resolves a
request's route once, ``encode_queries`` takes that resolved route, ``check_lexical_weight`` is the one
check of BM25's weight and ``search_json`` the one JSON form of an answer.

A ``System`` holds a ``Snapshot``: the versions resolved from the production aliases (or a pinned
router), the encoder loaded from their verified files, and the open index. ``refresh()`` resolves
the aliases again; if they name other versions, it loads and verifies the new encoder and index
*beside* the old one and only then replaces the snapshot (one reference assignment, so a caller that
took ``system.snapshot`` keeps a consistent pair). If the new general prefix no longer matches the
index, it keeps the old snapshot and reports the index as stale with the command that rebuilds it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ddr.errors import DdrError, UsageError
from ddr.registry import IndexRecord, Registry

from . import live
from .indexing import is_fresh, pick_index
from .search import OpenIndex, SearchResult, check_backbone, check_lexical_weight, open_index, rank, resolve_route, results_dict, router_weights

if TYPE_CHECKING:  # heavy: torch (names for hints only)
    import numpy as np

    from ddr.modules import DDREncoder, Route

T = TypeVar("T")

log = logging.getLogger("ddr.system")


@dataclass(frozen=True)
class Snapshot:
    """One consistent set of live versions, loaded: what a request is answered with from start to end."""

    state: live.ActiveState
    encoder: DDREncoder
    index: OpenIndex | None

    @property
    def router_version(self) -> int | None:
        return self.state.router.version if self.state.router else None

    def key(self) -> tuple:
        """What identifies the versions (aliases that move to the same versions change nothing)."""
        return _key(self.state, self.index.record if self.index else None)

    def versions(self) -> dict:
        s = self.state
        return {
            "router": self.router_version,
            "general": s.general_version,
            "domains": {d.name: d.version for d in s.domains},
            "index": None if self.index is None else {"name": self.index.record.name, "version": self.index.record.version},
            "backbone": self.encoder.backbone.spec.name,
            "dtype": self.encoder.config.dtype,
        }


def _key(state: live.ActiveState, record: IndexRecord | None) -> tuple:
    return (state.router.version if state.router else None, state.general_version,
            tuple((d.name, d.version) for d in state.domains), None if record is None else (record.name, record.version))


@dataclass
class Health:
    """What ``refresh`` last found: a stale index or a failed load keeps the previous snapshot serving."""

    stale: str = ""  # why the newest versions are not served (index built under another general prefix)
    error: str = ""  # the last load that failed verification
    swaps: int = 0
    failures: int = 0
    events: list[str] = field(default_factory=list)


class System:
    """The live encoder (and optionally an index) of one registry; see the module docstring."""

    def __init__(self, reg: Registry, *, index: str | None = None, router: int | None = None, backbone: str | None = None,
                 dtype: str | None = None, hybrid: bool = True, executor: Executor | None = None) -> None:
        """``executor``: where torch work (loading) runs; a server passes its one encoder thread (see ``_in_torch_thread``)."""
        self.registry, self.index_name, self.pinned, self.backbone, self.dtype, self.hybrid = reg, index, router, backbone, dtype, hybrid
        self.executor = executor
        self.health = Health()
        self._lock = threading.Lock()  # one refresh at a time
        state = self._resolve()
        record = pick_index(reg, index) if index is not None else None
        if record is not None and not is_fresh(record, state):
            from .indexing import check_fresh

            check_fresh(record, state)  # refuses with the command that rebuilds it
        self.snapshot: Snapshot | None = None  # the first load has no backbone to reuse
        self.snapshot = self._load(state, record)

    # --- reading -------------------------------------------------------------------------------

    def versions(self) -> dict:
        return {**self.snapshot.versions(), "pinned": self.pinned is not None}

    def route(self, route: str = "topk", domains: Sequence[str] = (), *, snapshot: Snapshot | None = None) -> Route:
        """The Route a request asks for, resolved once on ``snapshot``'s encoder (``domains``: prior routing to
        those live domains; routes needing a router mean 'none' without one). Bad input: a DdrError (UsageError, RoutingError)."""
        snap = snapshot or self.snapshot
        try:
            return resolve_route(snap.encoder, route, tuple(domains))
        except DdrError:
            raise
        except ValueError as exc:
            raise UsageError((str(exc).splitlines() or [""])[0]) from None

    def encode_queries(self, texts: list[str], *, route: str | Route = "topk", domains: Sequence[str] = (),
                       snapshot: Snapshot | None = None) -> tuple[np.ndarray, list[dict[str, float]]]:
        """(embeddings as float32 numpy rows, per-query router weights {domain: weight}).

        ``route``: a route name (resolved here, with ``domains``), or a Route that ``route()`` resolved on the same snapshot.
        """
        snap = snapshot or self.snapshot
        if isinstance(route, str):
            route = self.route(route, domains, snapshot=snap)
        elif domains:
            raise UsageError("give domains with a route name, not with a resolved Route")
        emb, weights = snap.encoder.encode_queries(list(texts), route=route, return_weights=True)
        return emb.float().numpy(), router_weights(snap.encoder.domains, weights)

    def encode_passages(self, texts: list[str], *, snapshot: Snapshot | None = None) -> np.ndarray:
        """Passage embeddings under the live general prefix (float32 numpy rows), for users with their own vector store."""
        snap = snapshot or self.snapshot
        return snap.encoder.encode_passages(list(texts)).float().numpy()

    def search(self, queries: list[str], *, k: int = 10, route: str | Route = "topk", domains: Sequence[str] = (), hybrid: bool = False,
               lexical_weight: float | str = 0.5, snapshot: Snapshot | None = None) -> list[SearchResult]:
        snap = snapshot or self.snapshot
        if snap.index is None:
            raise UsageError("this system was opened without an index; open it with index=NAME")
        emb, weights = self.encode_queries(queries, route=route, domains=domains, snapshot=snap)
        return self.rank_encoded(snap, list(queries), emb, weights, k=k, hybrid=hybrid, lexical_weight=lexical_weight)

    def rank_encoded(self, snapshot: Snapshot, queries: list[str], emb: np.ndarray, weights: Sequence[dict[str, float]], *, k: int = 10,
                     hybrid: bool = False, lexical_weight: float | str = 0.5) -> list[SearchResult]:
        """Rank queries already encoded on ``snapshot`` (``encode_queries``' rows and weights); the server's
        micro-batches encode first, then rank per request."""
        return rank(snapshot.encoder, snapshot.index, queries, emb, weights, k=k, hybrid=hybrid, lexical_weight=lexical_weight)

    @staticmethod
    def check_lexical_weight(value: float | str) -> float | str:
        """BM25's weight as a caller gave it: a number in [0, 1] or 'routed'; anything else is a one-line UsageError."""
        return check_lexical_weight(value)

    def search_json(self, results: Sequence[SearchResult], *, snapshot: Snapshot | None = None) -> dict[str, Any]:
        """The JSON answer: the router version and index that answered, then each query's weights and hits."""
        snap = snapshot or self.snapshot
        return {"router_version": snap.router_version, **results_dict(snap.index.record, results)}

    # --- following production ----------------------------------------------------------------

    def refresh(self) -> str:
        """Resolve the aliases again; 'unchanged', 'swapped', 'stale' or 'failed' (the old snapshot keeps serving)."""
        with self._lock:
            try:
                state = self._resolve()
                record = pick_index(self.registry, self.index_name) if self.index_name is not None else None
            except Exception as exc:  # noqa: BLE001 - a registry hiccup must not stop the server
                return self._failed(f"cannot resolve the production aliases: {exc}")
            if _key(state, record) == self.snapshot.key():
                self.health.stale = ""
                return "unchanged"
            if record is not None and not is_fresh(record, state):
                return self._stale(record, state)
            try:
                snapshot = self._load(state, record)
            except Exception as exc:  # noqa: BLE001 - verification or load failure: never swapped in
                return self._failed(f"cannot load {state.describe()}: {exc}")
            old, self.snapshot = self.snapshot.versions(), snapshot
            self.health.stale, self.health.error = "", ""
            self.health.swaps += 1
            self._event(f"swapped router {old['router']} -> {snapshot.router_version} ({state.describe()})")
            return "swapped"

    def _resolve(self) -> live.ActiveState:
        if self.pinned is None:
            return live.resolve(self.registry)
        return live.pinned(self.registry, self.pinned)

    def _load(self, state: live.ActiveState, record: IndexRecord | None) -> Snapshot:
        # Verification and file copies run here; the torch side runs on the executor's thread.
        reuse = self.snapshot.encoder.backbone if self.snapshot is not None else None
        encoder = self._in_torch_thread(live.load_encoder, self.registry, state, backbone=self.backbone, dtype=self.dtype, reuse=reuse)
        opened = None
        if record is not None:
            check_backbone(encoder, record)
            opened = open_index(self.registry, record, lexical=self.hybrid)
        return Snapshot(state, encoder, opened)

    def _in_torch_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the executor (if any). torch's OpenMP threads belong to the thread that starts
        them: once a second thread of a process computes, every query slowed from about 18 to about
        30 ms here, so a server keeps all torch and faiss work on one thread (docs/design.md, Serving)."""
        if self.executor is None:
            return fn(*args, **kwargs)
        return self.executor.submit(fn, *args, **kwargs).result()

    def _stale(self, record: IndexRecord, state: live.ActiveState) -> str:
        now = f"general@{state.general_version}" if state.general_version else "the identity general prefix"
        message = (f"index {record.name!r}@{record.version} was built under another general prefix than {now}: still serving "
                   f"router {self.snapshot.router_version}; rebuild it: ddr-registry index build --data {record.params.get('data', 'DIR')} --name {record.name}")
        if message != self.health.stale:
            self._event(message, warn=True)
        self.health.stale = message
        return "stale"

    def _failed(self, message: str) -> str:
        self.health.error = message
        self.health.failures += 1
        self._event(message, warn=True)
        return "failed"

    def _event(self, message: str, warn: bool = False) -> None:
        (log.warning if warn else log.info)(message)
        self.health.events = [*self.health.events[-19:], message]


def search(
    reg: Registry, queries: list[str], *, index_name: str | None = None, route: str = "topk", domains: Sequence[str] = (), k: int = 10,
    backbone: str | None = None, hybrid: bool = False, lexical_weight: float | str = 0.5,
) -> tuple[IndexRecord, list[SearchResult]]:
    """One-off search (the CLI's): the top ``k`` documents per query; ``domains`` routes by prior to those domains.

    ``hybrid`` fuses BM25 in (min-max convex fusion) at ``lexical_weight``: a number in [0, 1], or
    ``"routed"`` for the weight the router holds for each query's domain.
    """
    system = System(reg, index=pick_index(reg, index_name).name, backbone=backbone, hybrid=hybrid)
    results = system.search(queries, k=k, route=route, domains=domains, hybrid=hybrid, lexical_weight=lexical_weight)
    return system.snapshot.index.record, results


def open_system(home: str | Path | None = None, *, db_url: str | None = None, index: str | None = None, router: int | None = None,
                backbone: str | None = None, dtype: str | None = None, hybrid: bool = True) -> System:
    """Open a registry (a home folder, or ``db_url`` for a shared database) and load what is live.

    ``index`` opens that index too (its newest version; hybrid loads its BM25 side); ``router`` pins a
    router version instead of following ``router@production``.
    """
    return System(Registry(str(home) if home is not None else None, db_url), index=index, router=router, backbone=backbone,
                  dtype=dtype, hybrid=hybrid)
