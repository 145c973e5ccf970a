"""A sweep's batch of finished runs stored in two statements (``finish_many``), on PostgreSQL and
SQLite: only the runs still running take their results; a run deleted or failed meanwhile keeps
its verdict, and the others of the batch are stored all the same."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete

from autogrid.backtest import repository
from autogrid.core.db import Database
from autogrid.models.backtest import Backtest, BacktestStatus
from tests.support.factories import make_user

RUNNING = BacktestStatus.RUNNING


async def backtest_rows(database: Database, statuses: list[str]) -> list[uuid.UUID]:
    user_id = await make_user(database)
    rows = [
        Backtest(user_id=user_id, status=status, params={"n": n})
        for n, status in enumerate(statuses)
    ]
    async with database.session_scope() as session:
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def state(database: Database, backtest_id: uuid.UUID) -> tuple[str, Any, float] | None:
    async with database.session_scope() as session:
        row = await session.get(Backtest, backtest_id)
        return None if row is None else (row.status, row.results, row.progress)


async def test_a_batch_stores_the_runs_still_running_and_drops_the_others(
    database: Database,
) -> None:
    running, stale, deleted, also_running = await backtest_rows(
        database, [RUNNING, BacktestStatus.FAILED, RUNNING, RUNNING]
    )
    async with database.session_scope() as session:
        await session.execute(delete(Backtest).where(Backtest.id == deleted))
    batch = [
        (backtest_id, {"return_pct": float(n), "id": str(backtest_id)})
        for n, backtest_id in enumerate([running, stale, deleted, also_running])
    ]

    async with database.session_scope() as session:
        stored = await repository.finish_many(session, batch)

    assert stored == {running, also_running}
    assert await state(database, running) == (
        BacktestStatus.SUCCEEDED,
        {"return_pct": 0.0, "id": str(running)},
        1.0,
    )
    assert await state(database, also_running) == (
        BacktestStatus.SUCCEEDED,
        {"return_pct": 3.0, "id": str(also_running)},
        1.0,
    )
    assert await state(database, stale) == (BacktestStatus.FAILED, None, 0.0)
    assert await state(database, deleted) is None
    async with database.session_scope() as session:
        assert await repository.finish_many(session, []) == set()
