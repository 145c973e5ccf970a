"""Received signals are kept SIGNAL_RETENTION_DAYS: the hourly beat job deletes older ones in
bounded batches, on PostgreSQL and SQLite, and leaves everything newer alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import Signal, SignalSource
from autogrid.signals.retention import prune_signals
from autogrid.worker.celery_app import create_celery
from tests.support.factories import make_user

NOW = utcnow()


async def _signals_aged(database: Database, days: list[int]) -> None:
    """One signal ``d`` days old for each ``d``, in this order (ids grow along the list)."""
    user_id = await make_user(database)
    async with database.session_scope() as session:
        source = SignalSource(
            user_id=user_id,
            name="tradingview",
            token_hash=uuid.uuid4().hex,
            token_prefix="ags_test",
            allowed_ips=[],
            dedup_window_seconds=0,
            enabled=True,
        )
        session.add(source)
        await session.flush()
        for age in days:
            session.add(
                Signal(
                    source_id=source.id,
                    user_id=user_id,
                    received_at=NOW - timedelta(days=age),
                    body=f"{age} days old",
                    body_hash=uuid.uuid4().hex,
                    outcome="executed",
                )
            )
            await session.flush()


async def _left(database: Database) -> list[str]:
    async with database.session_scope() as session:
        return list((await session.scalars(select(Signal.body).order_by(Signal.id))).all())


async def test_signals_older_than_the_retention_go_in_bounded_batches(database: Database) -> None:
    await _signals_aged(database, [400, 91, 120, 1, 95, 89, 0, 200])

    # One batch of two a run: the oldest ids go first, the rest wait for the next run.
    assert await prune_signals(database, 90, NOW, batch=2, max_batches=1) == 2
    assert await _left(database) == [
        "120 days old", "1 days old", "95 days old", "89 days old", "0 days old", "200 days old"
    ]  # fmt: skip
    assert await prune_signals(database, 90, NOW, batch=2) == 3
    assert await _left(database) == ["1 days old", "89 days old", "0 days old"]
    assert await prune_signals(database, 90, NOW, batch=2) == 0  # idempotent


async def test_the_beat_job_prunes_with_the_configured_retention(
    settings: Settings, db: Database
) -> None:
    await _signals_aged(db, [40, 10, 31])
    app = create_celery(settings.model_copy(update={"signal_retention_days": 30}))
    assert app.conf.beat_schedule["prune-signals"]["task"] == "autogrid.signals.tasks.prune_signals"
    app.loader.import_default_modules()
    prune = app.tasks["autogrid.signals.tasks.prune_signals"]

    # In a thread of its own, as a worker runs it (the task runs its own event loop).
    pruned = await asyncio.to_thread(lambda: prune.apply().get())

    assert pruned == 2
    assert await _left(db) == ["10 days old"]
