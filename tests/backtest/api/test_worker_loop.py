"""A worker process keeps one event loop and one database pool between its backtest tasks, and
starts afresh after a task whose failure escaped its coroutine."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from autogrid.backtest.candle_cache import CandleCache
from autogrid.backtest.tasks import Outcome, execute_kept
from autogrid.backtest.worker_loop import KeptLoop
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.backtest.api.conftest import RecordingQueue, row_of
from tests.backtest.api.test_sweep_candle_cache import RSI, create_sweep, rsi_sweep
from tests.helpers import ApiUser


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
    with ThreadPoolExecutor(max_workers=1) as worker:
        pools = []
        for run_id in run_ids:
            outcome = await loop.run_in_executor(
                worker, execute_kept, run_id, settings, cache, kept
            )
            assert outcome is Outcome.SUCCEEDED
            pools.append(kept.database)
        assert pools[0] is not None and all(pool is pools[0] for pool in pools)

        with pytest.raises(Escaped):
            await loop.run_in_executor(worker, kept.run, settings, escape)
        assert kept.database is None  # dropped: the next task makes a new loop and pool
        await loop.run_in_executor(worker, kept.drop)

    for run_id in run_ids:
        row = await row_of(db, run_id)
        assert row is not None and row.results is not None
        assert row.params["config"]["strategy"] == RSI["strategy"]
