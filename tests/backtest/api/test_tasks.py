"""The run task in this process: claimed once however often it is delivered, progress by stage,
clear failures, and the recovery of what a dead worker or a lost message left behind."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from autogrid.backtest import repository, run_spec, tasks
from autogrid.backtest.tasks import Outcome, execute_backtest, recover
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from tests.backtest.api.conftest import (
    RecordingQueue,
    body,
    comparable,
    direct_results,
    row_of,
    set_row,
    submit,
)
from tests.helpers import ApiUser


async def test_a_backtest_runs_once_however_often_it_is_delivered(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = await submit(client, user)
    backtest_id = uuid.UUID(created["id"])
    # The registered Celery task, called as a worker would: twice, one after the other.
    monkeypatch.setattr(tasks, "task_settings", lambda: settings)

    first = await asyncio.to_thread(tasks.run_backtest, str(backtest_id))
    finished = await row_of(db, backtest_id)
    second = await asyncio.to_thread(tasks.run_backtest, str(backtest_id))

    assert (first, second) == (Outcome.SUCCEEDED, Outcome.SKIPPED)
    again = await row_of(db, backtest_id)
    assert finished is not None and again is not None
    assert finished.status == again.status == "succeeded"
    assert again.finished_at == finished.finished_at and again.results == finished.results
    assert again.progress == 1.0
    assert finished.results is not None and finished.results["fills"] > 20  # it traded
    assert comparable(finished.results) == comparable(await direct_results(candles, body()))


async def test_parallel_deliveries_run_it_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
) -> None:
    created = await submit(client, user)

    outcomes = await asyncio.gather(
        *(
            asyncio.to_thread(asyncio.run, execute_backtest(uuid.UUID(created["id"]), settings))
            for _ in range(3)
        )
    )

    assert sorted(outcomes) == sorted([Outcome.SUCCEEDED, Outcome.SKIPPED, Outcome.SKIPPED])


async def test_a_running_or_deleted_backtest_is_left_alone(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
) -> None:
    running = await submit(client, user)
    started = utcnow() - timedelta(minutes=1)
    await set_row(db, running["id"], status="running", started_at=started, progress=0.3)
    deleted = await submit(client, user)
    response = await client.delete(f"/api/v1/backtests/{deleted['id']}", headers=user.headers)
    assert response.status_code == 204

    assert await execute_backtest(uuid.UUID(running["id"]), settings) is Outcome.SKIPPED
    assert await execute_backtest(uuid.UUID(deleted["id"]), settings) is Outcome.SKIPPED

    row = await row_of(db, running["id"])
    assert row is not None
    assert (row.status, row.progress, row.started_at, row.results) == (
        "running",
        0.3,
        started,
        None,
    )


async def test_progress_is_committed_stage_by_stage(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = await submit(client, user)
    seen: list[float] = []
    real = repository.set_progress

    async def spy(session: object, backtest_id: uuid.UUID, progress: float) -> None:
        seen.append(progress)
        await real(session, backtest_id, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "set_progress", spy)
    assert await execute_backtest(uuid.UUID(created["id"]), settings) is Outcome.SUCCEEDED

    assert seen == [0.3, 0.7, 0.9]
    read = (await client.get(f"/api/v1/backtests/{created['id']}", headers=user.headers)).json()
    assert (read["status"], read["progress"], read["error"]) == ("succeeded", 1.0, None)


async def test_a_range_without_candles_fails_with_a_clear_message(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
) -> None:
    created = await submit(
        client, user, body(start="2024-01-01T00:00:00Z", end="2024-01-03T00:00:00Z")
    )

    assert await execute_backtest(uuid.UUID(created["id"]), settings) is Outcome.FAILED

    read = (await client.get(f"/api/v1/backtests/{created['id']}", headers=user.headers)).json()
    assert read["status"] == "failed" and read["results"] is None
    assert read["error"].startswith("no candles stored for binance BTC/USDT 1m from 2024-01-01")
    assert "(stored: from 20" in read["error"]  # and what is stored instead
    assert read["finished_at"] is not None
    report = await client.get(f"/api/v1/backtests/{created['id']}/report", headers=user.headers)
    assert report.status_code == 409
    assert report.json()["error"]["details"] == {"status": "failed"}


async def test_recovery_fails_abandoned_runs_and_resends_lost_messages(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    settings: Settings,
    db: Database,
) -> None:
    now = utcnow()
    abandoned = await submit(client, user)
    await set_row(db, abandoned["id"], status="running", started_at=now - timedelta(hours=1))
    busy = await submit(client, user)
    await set_row(db, busy["id"], status="running", started_at=now - timedelta(minutes=5))
    lost = await submit(client, user)
    await set_row(db, lost["id"], updated_at=now - timedelta(hours=1))
    await set_row(db, busy["id"], updated_at=now - timedelta(hours=1))  # running: not re-sent
    resent = RecordingQueue(settings)

    first = await recover(settings, resent, now=now)
    again = await recover(settings, resent, now=now)

    assert (first.failed, first.resent) == (1, 1)
    assert (again.failed, again.resent) == (0, 0)  # idempotent: two beats do no harm
    assert resent.sent == [uuid.UUID(lost["id"])]
    statuses = {
        name: (await row_of(db, created["id"])).status  # type: ignore[union-attr]
        for name, created in (("abandoned", abandoned), ("busy", busy), ("lost", lost))
    }
    assert statuses == {"abandoned": "failed", "busy": "running", "lost": "queued"}
    failed = await row_of(db, abandoned["id"])
    assert failed is not None and failed.error is not None
    assert "worker running this backtest stopped" in failed.error


async def test_stored_trades_are_capped_and_counted(
    client: httpx.AsyncClient,
    user: ApiUser,
    queue: RecordingQueue,
    candles: Path,
    settings: Settings,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(run_spec, "MAX_STORED_TRADES", 3)
    created = await submit(client, user)

    assert await execute_backtest(uuid.UUID(created["id"]), settings) is Outcome.SUCCEEDED

    row = await row_of(db, created["id"])
    assert row is not None and row.results is not None
    assert row.results["closed_trades_total"] == row.results["trades"] > 3
    assert len(row.results["closed_trades"]) == 3
