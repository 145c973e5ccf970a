"""A worker process keeps one event loop and one database pool between its backtest tasks, and
starts afresh after a task whose failure escaped its coroutine."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from autogrid.backtest import candle_files
from autogrid.backtest.candle_cache import CandleCache
from autogrid.backtest.tasks import Outcome, execute_kept
from autogrid.backtest.worker_loop import KeptLoop
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.market_data import repository as candles_repository
from tests.backtest.api.conftest import RecordingQueue, row_of
from tests.backtest.api.test_sweep_candle_cache import (
    RSI,
    create_sweep,
    rsi_sweep,
    stored_and_alone,
)
from tests.helpers import ApiUser, CountedCalls


class Escaped(Exception):
    pass


async def test_runs_share_the_kept_pool_and_a_failure_escaping_drops_it(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40, 45]}))
    run_ids = [uuid.UUID(run["id"]) for run in sweep["runs"]]
    kept, cache = KeptLoop(), CandleCache()
    loop = asyncio.get_running_loop()

    def escape(database: Database) -> Coroutine[Any, Any, None]:
        async def work() -> None:
            raise Escaped

        return work()

    # The worker's one thread, as a prefork child's: no loop of its own running there.
    def kept_database() -> Database | None:  # the worker thread's (kept per thread)
        return kept.database

    with ThreadPoolExecutor(max_workers=1) as worker:
        pools = []
        for run_id in run_ids:
            outcome = await loop.run_in_executor(
                worker, execute_kept, run_id, settings, cache, kept
            )
            assert outcome is Outcome.SUCCEEDED
            pools.append(await loop.run_in_executor(worker, kept_database))
        assert pools[0] is not None and all(pool is pools[0] for pool in pools)

        with pytest.raises(Escaped):
            await loop.run_in_executor(worker, kept.run, settings, escape)
        # Dropped: the thread's next task makes a new loop and pool.
        assert await loop.run_in_executor(worker, kept_database) is None
        await loop.run_in_executor(worker, kept.drop)

    for run_id in run_ids:
        row = await row_of(db, run_id)
        assert row is not None and row.results is not None
        assert row.params["config"]["strategy"] == RSI["strategy"]


def test_two_threads_run_kept_work_at_once_each_on_its_own_loop_and_pool(
    settings: Settings,
) -> None:
    """The embedded worker's threads pool runs two tasks at once: sharing one loop, the second
    failed ('This event loop is already running') and its chunk's runs stayed queued."""
    kept = KeptLoop()
    both_inside = threading.Barrier(2, timeout=30)
    seen: dict[str, tuple[asyncio.AbstractEventLoop, Database]] = {}
    errors: list[BaseException] = []

    def inside(database: Database) -> Coroutine[Any, Any, None]:
        async def work() -> None:
            await asyncio.to_thread(both_inside.wait)  # both loops are running now
            seen[threading.current_thread().name] = (asyncio.get_running_loop(), database)

        return work()

    def task() -> None:
        try:
            kept.run(settings, inside)
            assert kept.database is seen[threading.current_thread().name][1]
            kept.run(settings, inside)  # the thread's next task: the same loop and pool
        except BaseException as error:
            errors.append(error)
        finally:
            kept.drop()

    threads = [threading.Thread(target=task, name=f"pool-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    (loop_a, pool_a), (loop_b, pool_b) = seen.values()
    assert loop_a is not loop_b and pool_a is not pool_b
    assert loop_a.is_closed() and loop_b.is_closed()  # each thread dropped its own


async def test_two_threads_sweeping_one_range_at_once_load_it_from_the_database_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The threads pool's two threads share the process's candle cache: the second, arriving
    while the first loads, waits on the range's file lock and reads the first's file."""
    sweep = await create_sweep(client, user, rsi_sweep({"buy_below": [30, 40]}))
    run_ids = [uuid.UUID(run["id"]) for run in sweep["runs"]]
    kept, cache = KeptLoop(), CandleCache()
    lock_calls: list[int] = []
    second_waits = threading.Event()
    take_lock, load_arrays = candle_files._lock, candles_repository.load_arrays

    async def counted_lock(descriptor: int, path: Path, *, wait: bool) -> bool | None:
        lock_calls.append(descriptor)
        if len(lock_calls) == 2:
            second_waits.set()  # the other thread is at the lock the first one holds
        return await take_lock(descriptor, path, wait=wait)

    async def held_load(*args: Any, **kwargs: Any) -> Any:
        assert await asyncio.to_thread(second_waits.wait, 60)  # not loaded until it waits
        return await load_arrays(*args, **kwargs)

    monkeypatch.setattr(candle_files, "_lock", counted_lock)
    monkeypatch.setattr(candles_repository, "load_arrays", held_load)
    database_loads = CountedCalls(monkeypatch, candles_repository, "load_arrays")
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = await asyncio.gather(
            *(
                asyncio.get_running_loop().run_in_executor(
                    pool, execute_kept, run_id, settings, cache, kept
                )
                for run_id in run_ids
            )
        )
        for _ in range(2):  # each thread's own loop and pool, closed
            await asyncio.get_running_loop().run_in_executor(pool, kept.drop)

    assert outcomes == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert (database_loads.calls, cache.loads) == (1, 2)  # the second read the first's file
    for run in sweep["runs"]:
        await stored_and_alone(db, candles, run)
