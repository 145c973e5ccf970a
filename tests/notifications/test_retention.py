"""The delivery log keeps to the journal's retention: older attempts are pruned by the hourly
beat job, newer ones stay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import NotificationDelivery
from autogrid.notifications.retention import prune_deliveries
from autogrid.worker.celery_app import create_celery
from tests.helpers import ApiUser
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import create_channel


async def log_aged(db: Database, channel_id: str, ages_days: list[int]) -> None:
    async with db.session_scope() as session:
        session.add_all(
            NotificationDelivery(
                channel_id=uuid.UUID(channel_id),
                event_id=None,
                message_id=f"msg_{age}",
                attempt=1,
                ok=True,
                created_at=utcnow() - timedelta(days=age),
            )
            for age in ages_days
        )


async def kept(db: Database) -> list[str]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(NotificationDelivery.message_id).order_by(NotificationDelivery.id)
        )
        return list(rows)


async def test_old_attempts_are_pruned_in_batches(
    client: httpx.AsyncClient, user: ApiUser, db: Database, receiver: WebhookReceiver
) -> None:
    channel = await create_channel(client, user, receiver.url)
    await log_aged(db, channel["id"], [100, 95, 10, 91, 0])
    assert await prune_deliveries(db, 90, utcnow(), batch=2, max_batches=1) == 2
    assert await prune_deliveries(db, 90, utcnow(), batch=2) == 1
    assert await prune_deliveries(db, 90, utcnow(), batch=2) == 0
    assert await kept(db) == ["msg_10", "msg_0"]


async def test_the_beat_job_prunes_with_the_journal_retention(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    channel = await create_channel(client, user, receiver.url)
    await log_aged(db, channel["id"], [40, 10])
    app = create_celery(settings.model_copy(update={"events_retention_days": 30}))
    entry = app.conf.beat_schedule["prune-notification-deliveries"]
    app.loader.import_default_modules()
    prune = app.tasks[entry["task"]]
    assert await asyncio.to_thread(lambda: prune.apply().get()) == 1
    assert await kept(db) == ["msg_10"]
