"""Prometheus metrics: the HTTP metrics the middleware records, and the trading metrics.

Several worker processes: when PROMETHEUS_MULTIPROC_DIR is set *before this module is imported*,
prometheus_client stores every value in per-process files in that directory and ``render_latest``
merges them, so a scrape answered by any worker reports the totals of all of them. The directory
must be emptied when the server (re)starts: ``prepare_multiprocess_dir`` does that.

Labels stay low-cardinality on purpose: route *templates*, fixed method names, exchange ids, our
own error class names and enum values; never ids, symbols chosen by users or free-text messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir() -> Path | None:
    """Create the directory and drop other processes' files; call once before workers start.

    Files of this process are kept: it may already have opened them (importing this module does),
    and deleting an open file would silently lose what it records afterwards.
    """
    directory = multiprocess_dir()
    if directory is None:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    own_suffix = f"_{os.getpid()}"
    for stale in directory.glob("*.db"):
        if not stale.stem.endswith(own_suffix):
            stale.unlink(missing_ok=True)
    return directory


# prometheus_client opens its value files when the first metric below is created; a missing
# directory would make importing this module fail instead of merely losing metrics.
_startup_dir = multiprocess_dir()
if _startup_dir is not None:
    _startup_dir.mkdir(parents=True, exist_ok=True)


# --- HTTP (recorded by the request middleware) ---------------------------------------------------
HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response, by route template.",
    ["method", "route"],
)

# --- Trading (incremented by the order path, bot runner, breaker and backtests) ------------------
ORDER_TRANSITIONS = Counter(
    "autogrid_order_transitions_total",
    "Order state transitions applied, by exchange id and the status the order entered.",
    ["exchange", "status"],
)
FILLS = Counter(
    "autogrid_fills_total",
    "Fills applied to orders (each exchange trade id counted once), by exchange and side.",
    ["exchange", "side"],
)
BOT_TICK_SECONDS = Histogram(
    "autogrid_bot_tick_seconds",
    "Duration of one bot tick (snapshot, decide, act), by bot type (grid, dca, indicator).",
    ["bot_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
BREAKER_TRIPS = Counter(
    "autogrid_breaker_trips_total",
    "Circuit breaker trips, by reason code (a fixed short code, never the human message).",
    ["reason"],
)
RUNNING_BOTS = Gauge(
    "autogrid_running_bots",
    "Bots in the running state, as last counted from the database.",
    # The value is a fact read from the database, not a per-process quantity: the latest
    # count written by any process is the right one, summing would double it.
    multiprocess_mode="mostrecent",
)
# Facts read from the database or the broker by the metrics recorder (every 30 s, in a worker):
# the latest value written by any process is the right one, hence "mostrecent" everywhere.
BOTS = Gauge(
    "autogrid_bots",
    "Bots by status (error and halted are the ones that need their owner), as last counted.",
    ["status"],
    multiprocess_mode="mostrecent",
)
TICK_LAG = Gauge(
    "autogrid_tick_lag_seconds",
    "How far the most overdue running bot is past its next tick (0: every bot is on time).",
    multiprocess_mode="mostrecent",
)
QUEUE_MESSAGES = Gauge(
    "autogrid_queue_messages",
    "Messages waiting in each task queue (bot work, backtests), as last sampled.",
    ["queue"],
    multiprocess_mode="mostrecent",
)
METRICS_RECORDED_AT = Gauge(
    "autogrid_metrics_recorded_timestamp_seconds",
    "Unix time of the last recording of the gauges above: when it stops moving, the gauges are "
    "stale (no worker or no beat is running).",
    multiprocess_mode="mostrecent",
)
EXCHANGE_CALL_SECONDS = Histogram(
    "autogrid_exchange_call_seconds",
    "Latency of exchange API calls, by exchange id and connector method (e.g. create_order).",
    ["exchange", "method"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
EXCHANGE_ERRORS = Counter(
    "autogrid_exchange_errors_total",
    "Exchange call failures, by exchange id and our error class (e.g. RateLimited).",
    ["exchange", "error_class"],
)
BACKTESTS = Counter(
    "autogrid_backtests_total",
    "Backtests that reached a final or intermediate status (queued, running, succeeded, failed).",
    ["status"],
)


def _scrape_registry(directory: Path | None) -> CollectorRegistry:
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    # Process metrics cannot be merged across processes; these describe the process that
    # answered the scrape (prometheus_client's documented multiprocess limitation).
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def render_latest() -> tuple[bytes, str]:
    """The exposition text and its content type, merged over all processes when multiprocess."""
    return generate_latest(_scrape_registry(multiprocess_dir())), CONTENT_TYPE_LATEST


def start_metrics_http_server(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve /metrics from a process without a web app (a Celery worker), in a daemon thread.

    Trading metrics are mostly recorded in workers, which the API's /metrics cannot see; each
    worker host exposes its own endpoint for Prometheus to scrape. Port 0 picks a free port
    (``server.server_port``); ``server.shutdown()`` stops it.
    """
    registry = _scrape_registry(multiprocess_dir())
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
