"""The dead-man check: a running bot with no successful step for several intervals gets one
``bot_stalled`` event per stall, which reaches its owner's channels; healthy, stopped or
recently started bots get none."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.types import EventType
from autogrid.models import Bot, BotStatus, NotificationOutbox
from autogrid.notifications.dead_man import StallPolicy, alert_stalled_bots
from autogrid.worker.celery_app import create_celery
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import create_channel

pytestmark = pytest.mark.usefixtures("replay_candles")
POLICY = StallPolicy(missed_steps=5, min_window=timedelta(minutes=2))


async def set_bot(db: Database, bot_id: str, **values: Any) -> None:
    async with db.session_scope() as session:
        await session.execute(update(Bot).where(Bot.id == uuid.UUID(bot_id)).values(**values))


async def check(db: Database, now: datetime) -> int:
    async with db.session_scope() as session:
        return await alert_stalled_bots(session, now, POLICY)


async def stalled_events(client: httpx.AsyncClient, user: ApiUser) -> list[dict[str, Any]]:
    answer = await client.get(
        f"/api/v1/events?type={EventType.BOT_STALLED.value}", headers=user.headers
    )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def test_a_stalled_running_bot_is_reported_once_per_stall(
    client: httpx.AsyncClient, user: ApiUser, db: Database, receiver: WebhookReceiver
) -> None:
    channel = await create_channel(client, user, receiver.url)  # default subscription
    stalled, healthy, stopped = [await create_bot(client, user) for _ in range(3)]
    now = utcnow()
    long_ago = now - timedelta(minutes=30)
    running = {"status": BotStatus.RUNNING.value, "tick_interval_seconds": 5}
    await set_bot(db, stalled["id"], **running, started_at=long_ago, last_tick_at=long_ago)
    await set_bot(db, healthy["id"], **running, started_at=long_ago, last_tick_at=now)
    await set_bot(db, stopped["id"], started_at=long_ago, last_tick_at=long_ago)

    assert await check(db, now) == 1
    assert await check(db, now + timedelta(seconds=30)) == 0  # the same stall, not again

    [event] = await stalled_events(client, user)
    assert (event["type"], event["bot_id"]) == ("bot_stalled", stalled["id"])
    assert "30 minutes" in event["message"]
    async with db.session_scope() as session:
        queued = (
            await session.scalars(
                select(NotificationOutbox.event_id).where(
                    NotificationOutbox.channel_id == uuid.UUID(channel["id"])
                )
            )
        ).all()
    assert queued == [event["id"]]  # on its way to the owner's channel

    # It stepped again, then stalled anew: a new report.
    later = now + timedelta(hours=1)
    await set_bot(db, stalled["id"], last_tick_at=later - timedelta(minutes=10))
    await set_bot(db, healthy["id"], last_tick_at=later)
    assert await check(db, later) == 1
    assert len(await stalled_events(client, user)) == 2


async def test_a_bot_that_never_stepped_counts_from_its_start_and_slow_bots_get_longer(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    fresh, slow = await create_bot(client, user), await create_bot(client, user)
    now = utcnow()
    running = BotStatus.RUNNING.value
    await set_bot(db, fresh["id"], status=running, started_at=now - timedelta(minutes=1))
    # Hourly steps: five missed hours before it counts as stalled.
    await set_bot(
        db,
        slow["id"],
        status=running,
        tick_interval_seconds=3600,
        started_at=now - timedelta(hours=6),
        last_tick_at=now - timedelta(hours=4),
    )
    assert await check(db, now) == 0
    assert await check(db, now + timedelta(minutes=5)) == 1  # fresh: never stepped in 6 min
    assert await check(db, now + timedelta(hours=1, minutes=1)) == 1  # slow: 5 h without


async def test_the_beat_job_runs_the_check(
    client: httpx.AsyncClient, user: ApiUser, db: Database, settings: Settings
) -> None:
    bot = await create_bot(client, user)
    long_ago = utcnow() - timedelta(hours=1)
    await set_bot(
        db, bot["id"], status=BotStatus.RUNNING.value, started_at=long_ago, last_tick_at=long_ago
    )
    app = create_celery(settings)
    entry = app.conf.beat_schedule["alert-stalled-bots"]
    app.loader.import_default_modules()
    check_task = app.tasks[entry["task"]]

    # In a thread of its own, as a worker runs it (the task runs its own event loop).
    assert await asyncio.to_thread(lambda: check_task.apply().get()) == 1
    assert await asyncio.to_thread(lambda: check_task.apply().get()) == 0
    assert [event["bot_id"] for event in await stalled_events(client, user)] == [bot["id"]]
