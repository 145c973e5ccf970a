"""A worker loads a sweep's candles once, and every run still gives the results it gives alone."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from autogrid.backtest import repository
from autogrid.backtest.candle_cache import CandleCache
from autogrid.backtest.tasks import Outcome, execute_backtest
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.market_data import repository as candles_repository
from autogrid.models.backtest import Backtest
from autogrid.models.candle import Candle
from tests.backtest.api.conftest import (
    BACKTESTS,
    SWEEPS,
    RecordingQueue,
    body,
    comparable,
    direct_results,
    row_of,
    submit,
)
from tests.helpers import ApiUser, CountedCalls

RSI = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}


def rsi_sweep(vary: dict[str, list[Any]]) -> dict[str, Any]:
    return {"base": body(type="indicator", config=RSI), "vary": vary}


async def create_sweep(
    client: httpx.AsyncClient, user: ApiUser, data: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(SWEEPS, json=data, headers=user.headers)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    return created


def database_loads(monkeypatch: pytest.MonkeyPatch) -> CountedCalls:
    """Counts the candle loads that reach the database (the rest came from a cache)."""
    return CountedCalls(monkeypatch, candles_repository, "load_arrays")


async def run_all(settings: Settings, cache: CandleCache, run_ids: list[str]) -> None:
    for run_id in run_ids:
        assert await execute_backtest(uuid.UUID(run_id), settings, cache) is Outcome.SUCCEEDED


async def stored_and_alone(
    db: Database, candles: Path, run: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sweep run's stored figures, checked equal to the same parameters run alone, and the
    full results of that run alone (the run stores its figures; its full results are made when
    it is read)."""
    row = await row_of(db, run["id"])
    assert row is not None and row.results is not None
    alone = body(type="indicator", config={**RSI, **run["parameters"]})
    expected = {**comparable(await direct_results(candles, alone)), "strategy": "rsi"}
    assert comparable(row.results) == {
        name: value for name, value in expected.items() if name in row.results
    }
    return row.results, expected


async def test_a_sweep_loads_its_candles_once_and_each_run_equals_it_alone(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    vary = {"period": [7, 14], "buy_below": [30, 40, 45]}
    sweep = await create_sweep(client, user, rsi_sweep(vary))
    cache = CandleCache()

    await run_all(settings, cache, [run["id"] for run in sweep["runs"]])

    assert cache.loads == 1
    trading = 0
    for run in sweep["runs"]:
        stored, expected = await stored_and_alone(db, candles, run)
        read = await client.get(f"{BACKTESTS}/{run['id']}", headers=user.headers)
        assert comparable(read.json()["results"]) == expected  # named by its rule
        trading += stored["fills"] > 0
    assert trading >= 4  # the comparison is about trades, not empty runs


async def test_a_machines_worker_processes_load_a_sweeps_candles_from_the_database_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two worker processes (two caches): the second reads the first's file in ``var_dir``, and
    its runs still equal each run alone."""
    loads = database_loads(monkeypatch)
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40, 45, 50]}))
    ids = [run["id"] for run in sweep["runs"]]
    first, second = CandleCache(), CandleCache()

    await run_all(settings, first, ids[:2])
    await run_all(settings, second, ids[2:])

    assert (first.loads, second.loads, loads.calls) == (1, 1, 1)
    for run in sweep["runs"]:
        stored, _ = await stored_and_alone(db, candles, run)
        assert stored["fills"] > 0


async def test_candles_added_or_removed_at_an_end_of_the_range_are_reloaded(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40]}))
    first, second = (run["id"] for run in sweep["runs"])
    cache = CandleCache()
    await run_all(settings, cache, [first])
    async with db.session_scope() as session:
        last = await session.scalar(select(func.max(Candle.ts)))
        await session.execute(delete(Candle).where(Candle.ts == last))

    await run_all(settings, cache, [second])

    assert cache.loads == 2
    async with db.session_scope() as session:
        row = await session.get(Backtest, uuid.UUID(second))
    assert row is not None and row.results is not None
    assert row.results["candles"] == 2999


async def test_backtests_outside_a_sweep_always_read_the_database(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
) -> None:
    cache = CandleCache()
    created = [await submit(client, user) for _ in range(2)]

    await run_all(settings, cache, [backtest["id"] for backtest in created])

    assert cache.loads == 2


async def test_a_sweep_run_commits_no_steps_between_claim_and_results(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40]}))
    steps: list[float] = []

    async def record(session: object, backtest_id: uuid.UUID, progress: float) -> None:
        steps.append(progress)

    monkeypatch.setattr(repository, "set_progress", record)
    await run_all(settings, CandleCache(), [run["id"] for run in sweep["runs"]])

    assert steps == []  # the sweep's own progress (runs done, best so far) is what users follow
    read = (await client.get(f"{SWEEPS}/{sweep['id']}", headers=user.headers)).json()
    assert read["runs_done"] == 2
    assert [run["progress"] for run in read["runs"]] == [1.0, 1.0]
