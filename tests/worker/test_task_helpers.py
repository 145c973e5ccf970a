"""Each task's unit of work commits when it succeeds and leaves nothing behind when it fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.config import Settings
from autogrid.worker.base import run_async, run_in_session, task_session


class TaskFailed(Exception):
    pass


@pytest.fixture
def probe_table(settings: Settings) -> Iterator[str]:
    name = f"worker_probe_{uuid.uuid4().hex[:10]}"

    async def create(session: AsyncSession) -> None:
        await session.execute(text(f"CREATE TABLE {name} (value INTEGER NOT NULL)"))

    async def drop(session: AsyncSession) -> None:
        await session.execute(text(f"DROP TABLE {name}"))

    run_in_session(create, settings)
    yield name
    run_in_session(drop, settings)


def test_work_commits_on_success_and_rolls_back_on_error(
    settings: Settings, probe_table: str
) -> None:
    async def insert(value: int, *, then_fail: bool = False) -> None:
        async with task_session(settings) as session:
            await session.execute(text(f"INSERT INTO {probe_table} VALUES ({value})"))
            if then_fail:
                raise TaskFailed

    async def values(session: AsyncSession) -> list[int]:
        rows = await session.execute(text(f"SELECT value FROM {probe_table} ORDER BY value"))
        return list(rows.scalars())

    run_async(insert(1))
    with pytest.raises(TaskFailed):
        run_async(insert(2, then_fail=True))
    assert run_in_session(values, settings) == [1]


def test_each_call_runs_in_a_fresh_event_loop(settings: Settings) -> None:
    """A worker runs task after task; one task's closed loop must not break the next."""

    async def answer(session: AsyncSession) -> int:
        return int((await session.execute(text("SELECT 41 + 1"))).scalar_one())

    assert [run_in_session(answer, settings) for _ in range(3)] == [42, 42, 42]
