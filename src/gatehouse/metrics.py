"""Prometheus metrics of one node (one `gatehouse serve` worker process), served at `GET /metrics`.

Each worker process is a node with its own registry (docs/OPERATIONS.md, "Metrics"): a scrape
answers for the process that accepted it. Counters and histograms updated on requests live here,
module-level, in `REGISTRY`; the node's state (cache hits and misses, the change feed, the
database pool) is read when scraped by `NodeCollector`, from plain counters the hot path bumps
without a lock.

This module sits beside `config` and `errors`: every layer may import it, and it imports nothing
of Gatehouse's, so the layering stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

# Latency buckets from 0.5 ms (a warm check) to 10 s; `_count` is the request count.
REQUEST_SECONDS = Histogram(
    "gatehouse_http_request_duration_seconds",
    "HTTP requests by route template, method and status, and how long they took (seconds).",
    ["route", "method", "status"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)

DECISIONS = Counter(
    "gatehouse_authorization_decisions",
    "Authorization decisions: `check` (sessions.authenticate with an authorization_check) and "
    "`batch` (gatehouse/authorize, one per check); "
    "decision is allowed, denied or tenancy (a session of another organization).",
    ["endpoint", "decision"],
    registry=REGISTRY,
)
CHECK_ALLOWED = DECISIONS.labels("check", "allowed")
CHECK_DENIED = DECISIONS.labels("check", "denied")
CHECK_TENANCY = DECISIONS.labels("check", "tenancy")
BATCH_ALLOWED = DECISIONS.labels("batch", "allowed")
BATCH_DENIED = DECISIONS.labels("batch", "denied")
BATCH_TENANCY = DECISIONS.labels("batch", "tenancy")

FEED_LAG = Histogram(
    "gatehouse_change_feed_lag_seconds",
    "Seconds from a change's write (in its transaction, just before commit) to its delivery by "
    "the change feed; SQLite only (a PostgreSQL NOTIFY carries no time: see "
    "gatehouse_change_feed_events_total).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

PASSWORD_HASHES_IN_FLIGHT = Gauge(
    "gatehouse_password_hashes_in_flight",
    "argon2id hashes and verifications running right now (each holds a thread and memory).",
    registry=REGISTRY,
)

EMAIL_DELIVERY_FAILURES = Counter(
    "gatehouse_email_delivery_failures",
    "Emails sent after the response (sign-in links) that the SMTP server did not take.",
    registry=REGISTRY,
)


@dataclass(frozen=True, slots=True)
class NodeState:
    """What the node collector reads at scrape time."""

    cache_hits: dict[str, int]
    cache_misses: dict[str, int]
    feed_connected: bool
    feed_reconnects: int
    feed_events: int
    pool_checked_out: int


class NodeCollector(Collector):
    """The node's state, read when scraped (nothing is kept between scrapes)."""

    def __init__(self, read: Callable[[], NodeState]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        state = self._read()
        hits = CounterMetricFamily(
            "gatehouse_node_cache_hits",
            "Lookups the node answered from memory, by cache.",
            labels=["cache"],
        )
        misses = CounterMetricFamily(
            "gatehouse_node_cache_misses",
            "Lookups the node's memory could not answer while the feed was connected, by cache.",
            labels=["cache"],
        )
        for cache, count in state.cache_hits.items():
            hits.add_metric([cache], count)
        for cache, count in state.cache_misses.items():
            misses.add_metric([cache], count)
        yield hits
        yield misses
        yield GaugeMetricFamily(
            "gatehouse_change_feed_connected",
            "1 while the change feed is connected (the caches are live), else 0.",
            value=1 if state.feed_connected else 0,
        )
        yield CounterMetricFamily(
            "gatehouse_change_feed_reconnects",
            "Times the change feed connected again after losing its connection.",
            value=state.feed_reconnects,
        )
        yield CounterMetricFamily(
            "gatehouse_change_feed_events",
            "Changes the change feed delivered to this node.",
            value=state.feed_events,
        )
        yield GaugeMetricFamily(
            "gatehouse_database_pool_checked_out",
            "Database connections checked out of this node's SQLAlchemy pool.",
            value=state.pool_checked_out,
        )
