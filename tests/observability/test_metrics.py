from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from autogrid.observability import metrics, middleware
from tests.infra import REPO_ROOT


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_requests_are_counted_by_route_template(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bots = APIRouter(prefix="/bots")

    @bots.get("/{bot_id}")
    async def get_bot(bot_id: int) -> dict[str, int]:
        return {"id": bot_id}

    api = APIRouter(prefix="/api/v1/_metrics_test")
    api.include_router(bots)
    app.include_router(api)
    route = "/api/v1/_metrics_test/bots/{bot_id}"
    before_ok = _value("http_requests_total", method="GET", route=route, status="200")
    before_invalid = _value("http_requests_total", method="GET", route=route, status="422")
    before_count = _value("http_request_duration_seconds_count", method="GET", route=route)

    for bot_id in (1, 2, 3):
        assert (await client.get(f"/api/v1/_metrics_test/bots/{bot_id}")).status_code == 200
    assert (await client.get("/api/v1/_metrics_test/bots/abc")).status_code == 422

    assert _value("http_requests_total", method="GET", route=route, status="200") == before_ok + 3
    assert (
        _value("http_requests_total", method="GET", route=route, status="422") == before_invalid + 1
    )
    assert (
        _value("http_request_duration_seconds_count", method="GET", route=route) == before_count + 4
    )
    # No series per concrete id.
    assert (
        _value(
            "http_requests_total", method="GET", route="/api/v1/_metrics_test/bots/1", status="200"
        )
        == 0
    )


def test_the_kept_children_are_the_metrics_own_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The request metrics' children kept by the access layer are those ``labels()`` gives (so
    every count lands in the exposed series); past the bound the memory starts afresh."""
    monkeypatch.setattr(middleware, "_MAX_CHILDREN", 2)
    monkeypatch.setattr(middleware, "_children", {})
    route = "/api/v1/_kept_children"
    for status in (200, 404, 500, 200):
        requests, durations = middleware._metric_children("GET", route, status)
        assert requests is metrics.HTTP_REQUESTS.labels(
            method="GET", route=route, status=str(status)
        )
        assert durations is metrics.HTTP_REQUEST_DURATION.labels(method="GET", route=route)
        assert len(middleware._children) <= 2
    before = _value("http_requests_total", method="GET", route=route, status="500")
    middleware._metric_children("GET", route, 500)[0].inc()
    assert _value("http_requests_total", method="GET", route=route, status="500") == before + 1


async def test_unmatched_paths_and_odd_methods_share_fixed_labels(
    client: httpx.AsyncClient,
) -> None:
    before = _value("http_requests_total", method="GET", route="<unmatched>", status="404")
    before_other = _value("http_requests_total", method="OTHER", route="/health", status="405")
    for index in range(5):
        await client.get(f"/random/{index}/path")
    await client.request("BREW", "/health")
    assert (
        _value("http_requests_total", method="GET", route="<unmatched>", status="404") == before + 5
    )
    assert (
        _value("http_requests_total", method="OTHER", route="/health", status="405")
        == before_other + 1
    )
    assert _value("http_requests_total", method="GET", route="/random/0/path", status="404") == 0


async def test_metrics_endpoint_exposes_http_trading_and_process_metrics(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/health")
    metrics.ORDER_TRANSITIONS.labels(exchange="binance", status="filled").inc()
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    names = {name for name, _ in samples}
    assert "http_requests_total" in names
    assert "http_request_duration_seconds_bucket" in names
    assert "autogrid_order_transitions_total" in names
    assert "process_resident_memory_bytes" in names
    key = (
        "http_requests_total",
        frozenset({("method", "GET"), ("route", "/health"), ("status", "200")}),
    )
    assert samples[key] >= 1


@pytest.mark.parametrize(
    ("metric", "kind", "name", "labels"),
    [
        (metrics.ORDER_TRANSITIONS, Counter, "autogrid_order_transitions", ("exchange", "status")),
        (metrics.FILLS, Counter, "autogrid_fills", ("exchange", "side")),
        (metrics.BOT_TICK_SECONDS, Histogram, "autogrid_bot_tick_seconds", ("bot_type",)),
        (metrics.BREAKER_TRIPS, Counter, "autogrid_breaker_trips", ("reason",)),
        (metrics.RUNNING_BOTS, Gauge, "autogrid_running_bots", ()),
        (
            metrics.EXCHANGE_CALL_SECONDS,
            Histogram,
            "autogrid_exchange_call_seconds",
            ("exchange", "method"),
        ),
        (metrics.EXCHANGE_ERRORS, Counter, "autogrid_exchange_errors", ("exchange", "error_class")),
        (metrics.BACKTESTS, Counter, "autogrid_backtests", ("status",)),
        (metrics.HTTP_REQUESTS, Counter, "http_requests", ("method", "route", "status")),
        (
            metrics.HTTP_REQUEST_DURATION,
            Histogram,
            "http_request_duration_seconds",
            ("method", "route"),
        ),
    ],
)
def test_trading_metrics_have_the_agreed_names_and_labels(
    metric: object, kind: type, name: str, labels: tuple[str, ...]
) -> None:
    assert isinstance(metric, kind)
    assert metric._name == name  # type: ignore[attr-defined]
    assert metric._labelnames == labels  # type: ignore[attr-defined]
    assert metric._documentation  # type: ignore[attr-defined]


_WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    from autogrid.app import create_app
    from autogrid.core.config import load_settings

    requests, running_bots, var_dir = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    app = create_app(load_settings(
        environment="development", database_url="sqlite+aiosqlite:///:memory:",
        redis_url=None, var_dir=var_dir, log_level="WARNING",
    ))

    async def serve() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            for _ in range(requests):
                assert (await client.get("/health")).status_code == 200
            assert (await client.get("/no/such/path")).status_code == 404

    asyncio.run(serve())
    from autogrid.observability import metrics, middleware
    metrics.ORDER_TRANSITIONS.labels(exchange="binance", status="filled").inc()
    metrics.RUNNING_BOTS.set(running_bots)
    """
)


def _run_worker(directory: Path, requests: int, running_bots: int, var_dir: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(directory)}
    subprocess.run(
        [sys.executable, "-c", _WORKER_SCRIPT, str(requests), str(running_bots), str(var_dir)],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        timeout=120,
    )


async def test_multiprocess_mode_merges_the_counts_of_every_worker(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    _run_worker(directory, requests=3, running_bots=5, var_dir=tmp_path / "var")
    _run_worker(directory, requests=4, running_bots=7, var_dir=tmp_path / "var")
    assert len(list(directory.glob("counter_*.db"))) == 2

    # This test process recorded its own values in memory, not in the directory: whatever the
    # scrape reports below comes from the two worker processes' files.
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(directory))
    response = await client.get("/metrics")
    assert response.status_code == 200
    samples = _samples(response.text)

    def sample(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert sample("http_requests_total", method="GET", route="/health", status="200") == 7
    assert sample("http_requests_total", method="GET", route="<unmatched>", status="404") == 2
    assert sample("http_request_duration_seconds_count", method="GET", route="/health") == 7
    assert sample("autogrid_order_transitions_total", exchange="binance", status="filled") == 2
    # A count read from the database: the latest write wins, it is not summed over processes.
    assert sample("autogrid_running_bots") == 7
    assert any(name.startswith("process_") for name, _ in samples)


def test_prepare_multiprocess_dir_drops_files_of_other_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    stale = directory / "counter_999999.db"
    stale.write_bytes(b"old")
    own = directory / f"gauge_mostrecent_{os.getpid()}.db"
    own.write_bytes(b"mine")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(directory))
    assert metrics.prepare_multiprocess_dir() == directory
    assert not stale.exists()
    assert own.exists()
    monkeypatch.delenv(metrics.MULTIPROC_ENV)
    assert metrics.prepare_multiprocess_dir() is None


def test_a_worker_without_a_web_app_can_expose_metrics() -> None:
    metrics.BREAKER_TRIPS.labels(reason="max_drawdown").inc()
    server = metrics.start_metrics_http_server(0)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    samples = _samples(text)
    key = ("autogrid_breaker_trips_total", frozenset({("reason", "max_drawdown")}))
    assert samples[key] >= 1
