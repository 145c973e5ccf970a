"""The outbox trigger on SQLite (the embedded database): an account-level event reaches a
channel for every bot, not one limited to bots; rows are claimed once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import (
    NotificationChannel,
    NotificationChannelType,
    NotificationOutbox,
    User,
)
from autogrid.notifications import outbox_repository


def _channel(user_id: uuid.UUID, label: str, *, all_bots: bool) -> NotificationChannel:
    return NotificationChannel(
        id=uuid.uuid4(),
        user_id=user_id,
        kind="webhook",
        label=label,
        state="active",
        target_masked="https://example.com/…",
        config_ciphertext=b"sealed",
        key_version=1,
        event_types=["kill_switch_engaged"],
        min_severity="info",
        all_bots=all_bots,
        consecutive_failures=0,
    )


async def test_the_trigger_and_the_claim_work_on_sqlite(sqlite_db: Database) -> None:
    user_id = uuid.uuid4()
    every_bot = _channel(user_id, "every bot", all_bots=True)
    some_bots = _channel(user_id, "some bots", all_bots=False)
    async with sqlite_db.session_scope() as session:
        session.add(User(id=user_id, email="owner@example.com", password_hash="x"))
        await session.flush()  # no ORM relationship orders these inserts
        session.add_all([every_bot, some_bots])
        await session.flush()
        session.add_all(
            NotificationChannelType(channel_id=channel.id, event_type="kill_switch_engaged")
            for channel in (every_bot, some_bots)
        )
    async with sqlite_db.session_scope() as session:
        event = record_event(
            session,
            user_id=user_id,
            bot_id=None,
            type=EventType.KILL_SWITCH_ENGAGED,
            message="halted",
            at=utcnow(),
        )
        record_event(
            session, user_id=user_id, bot_id=None, type=EventType.FILL, message="x", at=utcnow()
        )
    async with sqlite_db.session_scope() as session:
        rows = (await session.scalars(select(NotificationOutbox))).all()
        assert [(row.event_id, row.channel_id) for row in rows] == [(event.id, every_bot.id)]

        now = utcnow()
        first = await outbox_repository.claim_due(
            session, now=now, lease_until=now + timedelta(minutes=3), limit=10
        )
        again = await outbox_repository.claim_due(
            session, now=now, lease_until=now + timedelta(minutes=3), limit=10
        )
    assert [(claim.event_id, claim.attempt) for claim in first] == [(event.id, 1)]
    assert again == []
