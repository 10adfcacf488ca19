"""The server's Prometheus metrics, served at ``/metrics`` (prometheus_client, one registry per app so tests can run several).

Named telemetry so it is not confused with the IR metrics (nDCG, recall) in ``ddr.retrieval.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from ddr.service.system import System

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("ddr_requests", "HTTP requests by endpoint and status", ["endpoint", "status"], registry=r)
        self.latency = Histogram("ddr_request_seconds", "request latency by endpoint", ["endpoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.routed = Counter("ddr_router_picks", "queries by the domain the router weighted most ('none': abstained)", ["domain"], registry=r)
        self.abstained = Counter("ddr_router_abstentions", "queries routed to no domain (general prefix only)", registry=r)
        self.swaps = Counter("ddr_swaps", "new versions swapped in", registry=r)
        self.failures = Counter("ddr_swap_failures", "refreshes that failed to load or verify (nothing swapped)", registry=r)
        self.stale = Gauge("ddr_index_stale", "1 while the newest versions wait for an index rebuild", registry=r)
        self.router = Gauge("ddr_router_version", "the router version serving (0: none)", registry=r)
        self.batch = Histogram("ddr_batch_texts", "texts per encoder call", buckets=BATCH_BUCKETS, registry=r)

    def picks(self, weights: Sequence[dict[str, float] | None]) -> None:
        """Count each query by the domain weighted most (``System.encode_queries``' weights: only domains > 0)."""
        for row in weights:
            if row is None:
                continue
            if not row:
                self.abstained.inc()
                self.routed.labels("none").inc()
            else:
                self.routed.labels(max(row, key=row.__getitem__)).inc()

    def refreshed(self, outcome: str, system: System) -> None:
        if outcome == "swapped":
            self.swaps.inc()
        elif outcome == "failed":
            self.failures.inc()
        self.stale.set(1 if system.health.stale else 0)
        self.router.set(system.snapshot.router_version or 0)

    def text(self) -> bytes:
        return generate_latest(self.registry)
