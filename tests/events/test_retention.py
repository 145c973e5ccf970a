"""The journal keeps EVENTS_RETENTION_DAYS of events: the beat job deletes older ones in bounded
batches, on PostgreSQL and SQLite, and leaves everything newer alone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.retention import prune_events
from autogrid.events.types import EventType
from autogrid.models import Event
from autogrid.worker.celery_app import create_celery
from tests.support.factories import make_bot, make_user

NOW = utcnow()


async def _events_aged(database: Database, days: list[int]) -> uuid.UUID:
    """A bot with one event ``d`` days old for each ``d``; returns the bot's id."""
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id)
    async with database.session_scope() as session:
        for age in days:
            record_event(
                session,
                user_id=user_id,
                bot_id=bot_id,
                type=EventType.FILL,
                message=f"{age} days old",
                at=NOW - timedelta(days=age),
            )
    return bot_id


async def _ages_left(database: Database) -> list[str]:
    async with database.session_scope() as session:
        return list((await session.scalars(select(Event.message).order_by(Event.id))).all())


async def test_events_older_than_the_retention_go_in_bounded_batches(database: Database) -> None:
    await _events_aged(database, [400, 91, 120, 1, 95, 89, 0, 200])

    # One batch of two a run: the oldest ids go first, the rest wait for the next run.
    assert await prune_events(database, 90, NOW, batch=2, max_batches=1) == 2
    assert await _ages_left(database) == [
        "120 days old", "1 days old", "95 days old", "89 days old", "0 days old", "200 days old"
    ]  # fmt: skip
    assert await prune_events(database, 90, NOW, batch=2) == 3
    assert await _ages_left(database) == ["1 days old", "89 days old", "0 days old"]
    assert await prune_events(database, 90, NOW, batch=2) == 0  # idempotent


async def test_the_beat_job_prunes_with_the_configured_retention(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    await _events_aged(db, [40, 10, 31])
    app = create_celery(settings.model_copy(update={"events_retention_days": 30}))
    assert app.conf.beat_schedule["prune-events"]["task"] == "autogrid.events.tasks.prune_events"
    app.loader.import_default_modules()
    prune = app.tasks["autogrid.events.tasks.prune_events"]

    # In a thread of its own, as a worker runs it (the task runs its own event loop).
    pruned = await asyncio.to_thread(lambda: prune.apply().get())

    assert pruned == 2
    assert await _ages_left(db) == ["10 days old"]


async def test_ids_keep_growing_after_every_event_was_pruned(database: Database) -> None:
    """A reader resuming after the last id it saw must see the next event, even when retention
    emptied the journal in between (SQLite reuses freed ids unless told not to)."""
    await _events_aged(database, [100, 100])
    async with database.session_scope() as session:
        last = max((await session.scalars(select(Event.id))).all())
    assert await prune_events(database, 90, NOW) == 2

    await _events_aged(database, [0])
    async with database.session_scope() as session:
        [new] = (await session.scalars(select(Event.id))).all()
    assert new > last
