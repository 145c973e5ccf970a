"""A sweep's batch of finished runs stored in one statement (``finish_many``), on PostgreSQL and
SQLite: only the runs still running take their results; a run deleted or failed meanwhile keeps
its verdict, and the others of the batch are stored all the same."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, event, text
from sqlalchemy.exc import DBAPIError

from autogrid.backtest import repository
from autogrid.core.config import Settings
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


async def fail_elsewhere(url: str, backtest_id: uuid.UUID) -> None:
    """Fail the run as ``recover_backtests`` would, on a connection of its own. On PostgreSQL a
    row locked by the batch makes it give up at once (it would wait for the batch's commit)."""
    other = Database.from_settings(Settings(database_url=url), pooled=False)
    try:
        async with other.session_scope() as session:
            if other.engine.dialect.name == "postgresql":
                await session.execute(text("SET LOCAL lock_timeout = '1ms'"))
            await repository.fail(session, backtest_id, "stale")
    except DBAPIError:
        pass  # the row was locked: the batch stores it
    finally:
        await other.dispose()


@contextmanager
def failed_before_the_write(database: Database, backtest_id: uuid.UUID) -> Iterator[None]:
    """The run is failed by another connection just before the batch's first UPDATE runs."""
    url = database.engine.url.render_as_string(hide_password=False)
    done: list[bool] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if done or not statement.lstrip().upper().startswith("UPDATE BACKTESTS"):
            return
        done.append(True)
        # In a thread with its own loop: this hook runs inside the test's loop.
        worker = threading.Thread(target=asyncio.run, args=(fail_elsewhere(url, backtest_id),))
        worker.start()
        worker.join()

    event.listen(database.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", before)
    assert done


async def test_the_ids_returned_are_the_runs_stored_when_one_fails_meanwhile(
    database: Database,
) -> None:
    # SQLite took no lock when it read which runs were still running: a run failed between that
    # read and the write kept its failure but was counted as stored.
    kept, failed = await backtest_rows(database, [RUNNING, RUNNING])
    batch = [(backtest_id, {"id": str(backtest_id)}) for backtest_id in (kept, failed)]

    with failed_before_the_write(database, failed):
        async with database.session_scope() as session:
            stored = await repository.finish_many(session, batch)

    succeeded = {
        backtest_id
        for backtest_id in (kept, failed)
        if (await state(database, backtest_id) or ("",))[0] == BacktestStatus.SUCCEEDED
    }
    assert stored == succeeded
    assert kept in stored
    assert await state(database, kept) == (BacktestStatus.SUCCEEDED, {"id": str(kept)}, 1.0)
