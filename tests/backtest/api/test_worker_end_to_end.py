"""The API end to end with a real Celery worker process on Redis: a grid backtest on real candles,
its HTML report, and a sweep fanned out over the worker's processes and ranked."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from autogrid.core.config import Settings
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    body,
    comparable,
    direct_results,
    submit,
    sweep_body,
)
from tests.backtest.report_checks import assert_self_contained
from tests.helpers import ApiUser
from tests.tcp_relay import TcpRelay
from tests.worker.processes import CELERY, free_port, process_env, running, tail

pytestmark = pytest.mark.slow

TIMEOUT_SECONDS = 90


@pytest.fixture
def worker(settings: Settings, tmp_path: Path, celery_queue: None) -> Iterator[Path]:
    """A worker of two processes on the test's database and Redis prefix; yields its log."""
    yield from _worker(settings, tmp_path, "prefork")


@pytest.fixture
def threads_worker(settings: Settings, tmp_path: Path, celery_queue: None) -> Iterator[Path]:
    """A worker of two threads, as ``make run``'s embedded one runs tasks; yields its log."""
    yield from _worker(settings, tmp_path, "threads")


@pytest.fixture
def relay(settings: Settings) -> TcpRelay:
    """A relay to the test database, not listening yet: a database that is down."""
    url = make_url(settings.database_url)
    return TcpRelay((url.host or "127.0.0.1", url.port or 5432), port=free_port())


@pytest.fixture
def relayed_worker(
    settings: Settings, tmp_path: Path, celery_queue: None, relay: TcpRelay
) -> Iterator[Path]:
    """A worker of two processes reaching the test database through ``relay`` only."""
    url = make_url(settings.database_url).set(host="127.0.0.1", port=relay.port)
    database_url = url.render_as_string(hide_password=False)
    yield from _worker(settings, tmp_path, "prefork", database_url)


def _worker(
    settings: Settings, tmp_path: Path, pool: str, database_url: str | None = None
) -> Iterator[Path]:
    assert settings.redis_url
    env = process_env(
        database_url=database_url or settings.database_url,
        redis_url=settings.redis_url,
        redis_key_prefix=settings.redis_key_prefix,
        var_dir=str(settings.var_dir),
        log_json="false",
    )
    log = tmp_path / "worker.log"
    argv = [
        *CELERY,
        "-A",
        "autogrid.worker.celery_app",
        "worker",
        f"--pool={pool}",
        "--concurrency=2",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "INFO",
    ]
    with running(argv, env=env, cwd=tmp_path, log=log):
        yield log


async def poll(
    client: httpx.AsyncClient,
    user: ApiUser,
    path: str,
    done: Callable[[dict[str, Any]], bool],
    log: Path,
) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        response = await client.get(path, headers=user.headers)
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        if done(data):
            return data
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not finish: {data}\nworker log:\n{tail(log)}")
        await asyncio.sleep(0.3)


async def test_a_grid_backtest_runs_on_a_worker_like_a_direct_run(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, worker: Path
) -> None:
    created = await submit(client, user)

    done = await poll(
        client,
        user,
        f"{BACKTESTS}/{created['id']}",
        lambda data: data["status"] in ("succeeded", "failed"),
        worker,
    )

    assert (done["status"], done["progress"], done["error"]) == ("succeeded", 1.0, None)
    results = done["results"]
    assert results["fills"] > 20 and len(results["equity_curve"]) <= 2000
    assert comparable(results) == comparable(await direct_results(candles, body()))
    report = await client.get(f"{BACKTESTS}/{created['id']}/report", headers=user.headers)
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    html = report.text
    # Self-contained: nothing for a browser to fetch, and only its own script allowed to run.
    assert_self_contained(html, report.headers["content-security-policy"])
    assert html.count("<svg") == 4  # price (linear and log), equity, drawdown
    # The setup is shown: the fees and slippage of the body and the grid's levels.
    for shown in ("Maker fee", "0.1 %", "Slippage", "0.05 %", "grid_count", "grid levels: 21"):
        assert shown in html, shown


async def test_a_sweep_fans_out_and_ranks_by_the_stored_results(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, worker: Path
) -> None:
    vary = {"grid_count": [10, 20, 30]}
    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]

    done = await poll(
        client, user, f"{SWEEPS}/{sweep_id}", lambda data: data["status"] == "finished", worker
    )

    assert done["counts"] == {"queued": 0, "running": 0, "succeeded": 3, "failed": 0}
    expected: dict[int, float] = {}
    for count in vary["grid_count"]:
        data = body()
        data["config"]["grid_count"] = count
        expected[count] = (await direct_results(candles, data))["return_pct"]
    best_first = sorted(expected, key=lambda count: expected[count], reverse=True)
    assert [run["parameters"]["grid_count"] for run in done["runs"]] == best_first
    assert [run["rank"] for run in done["runs"]] == [1, 2, 3]
    assert [run["value"] for run in done["runs"]] == [expected[c] for c in best_first]
    assert len(set(expected.values())) == 3  # the ranking is not vacuous


async def test_a_held_out_sweep_runs_both_parts_on_the_worker_like_direct_runs(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, worker: Path
) -> None:
    vary = {"grid_count": [10, 20]}
    data = {**sweep_body(vary), "holdout_fraction": "0.5", "rank_by_sample": "out"}
    response = await client.post(SWEEPS, json=data, headers=user.headers)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]

    done = await poll(
        client, user, f"{SWEEPS}/{sweep_id}", lambda data: data["status"] == "finished", worker
    )

    assert done["counts"]["succeeded"] == 4 and done["combinations"] == 2
    split = "2025-05-21T01:00:00Z"  # half of the 50 hours
    assert done["holdout"] == {"split": split, "rank_by_sample": "out"}
    figures = ("return_pct", "trades", "win_rate", "max_drawdown_pct", "final_equity")
    out_returns = []
    for run in done["runs"]:
        config = {**body()["config"], **run["parameters"]}
        for part, start, end in (
            ("in_sample", body()["start"], split),
            ("out_of_sample", split, body()["end"]),
        ):
            direct = await direct_results(candles, body(config=config, start=start, end=end))
            assert [run[part]["figures"][name] for name in figures] == [
                direct[name] for name in figures
            ]
        out_returns.append(run["out_of_sample"]["figures"]["return_pct"])
        assert run["value"] == out_returns[-1]
    assert [run["rank"] for run in done["runs"]] == [1, 2]
    assert out_returns == sorted(out_returns, reverse=True)


async def test_a_sweep_in_chunks_runs_on_the_worker_and_a_run_opens_in_full(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, worker: Path
) -> None:
    await _sweep_in_chunks(client, user, candles, worker)


async def test_a_sweep_in_chunks_runs_on_a_threads_pool_as_the_embedded_worker_runs_it(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, threads_worker: Path
) -> None:
    """Two chunks at once in one process: they once shared one event loop, and the second
    failed, its runs left queued (found by running a sweep under ``make run``)."""
    await _sweep_in_chunks(client, user, candles, threads_worker)
    assert "Traceback" not in threads_worker.read_text()


async def _sweep_in_chunks(
    client: httpx.AsyncClient, user: ApiUser, candles: Path, worker: Path
) -> None:
    rsi = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}
    vary = {"period": [7, 14, 21], "buy_below": [30, 40, 45]}  # nine runs: chunks of two
    data = {"base": body(type="indicator", config=rsi), "vary": vary}
    response = await client.post(SWEEPS, json=data, headers=user.headers)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]

    done = await poll(
        client, user, f"{SWEEPS}/{sweep_id}", lambda data: data["status"] == "finished", worker
    )

    assert done["counts"]["succeeded"] == 9 and done["runs_done"] == 9
    assert "run_backtest_chunk" in worker.read_text()  # the runs went in chunks
    best = done["runs"][0]
    opened = (await client.get(f"{BACKTESTS}/{best['id']}", headers=user.headers)).json()
    config = {**rsi, **best["parameters"]}
    expected = await direct_results(candles, body(type="indicator", config=config))
    assert comparable(opened["results"]) == {**comparable(expected), "strategy": "rsi"}
    assert opened["results"]["return_pct"] == best["value"]


async def test_a_sweep_sent_while_the_database_is_down_runs_once_it_is_back(
    client: httpx.AsyncClient,
    user: ApiUser,
    candles: Path,
    relay: TcpRelay,
    relayed_worker: Path,
) -> None:
    """The worker's tasks meet a refused connection, as in a database restart: each is retried
    shortly after (not acknowledged as failed, its runs left queued for the recovery's resend a
    quarter of an hour later), and the sweep finishes once the database is back."""
    vary = {"grid_count": [10, 20, 30]}
    response = await client.post(SWEEPS, json=sweep_body(vary), headers=user.headers)
    assert response.status_code == 202, response.text
    sweep_id = response.json()["id"]

    deadline = time.monotonic() + TIMEOUT_SECONDS
    while "Retry in" not in relayed_worker.read_text():  # Celery's line for a retried task
        assert time.monotonic() < deadline, tail(relayed_worker)
        await asyncio.sleep(0.1)
    await relay.start()
    try:
        done = await poll(
            client,
            user,
            f"{SWEEPS}/{sweep_id}",
            lambda data: data["status"] == "finished",
            relayed_worker,
        )
    finally:
        await relay.stop()

    assert done["counts"] == {"queued": 0, "running": 0, "succeeded": 3, "failed": 0}
    assert "ConnectionRefusedError" in relayed_worker.read_text()
