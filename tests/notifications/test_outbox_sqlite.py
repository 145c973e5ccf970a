"""The outbox trigger on SQLite (the embedded database): an account-level event reaches a
channel for every bot, not one limited to bots; rows are claimed once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events import repository as events_repository
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import (
    Event,
    NotificationChannel,
    NotificationChannelType,
    NotificationOutbox,
    User,
)
from autogrid.notifications import outbox_repository
from autogrid.notifications.fleet_alerts import FleetObservation, announce
from autogrid.notifications.summary import send_daily_summaries


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


async def test_summaries_fleet_alerts_and_the_stopped_by_filter_work_on_sqlite(
    sqlite_db: Database,
) -> None:
    admin_id = uuid.uuid4()
    channel = _channel(admin_id, "summary", all_bots=True)
    channel.event_types = ["daily_summary", "fleet_stalled"]
    async with sqlite_db.session_scope() as session:
        session.add(User(id=admin_id, email="admin@example.com", password_hash="x", role="admin"))
        await session.flush()
        session.add(channel)
        await session.flush()
        session.add_all(
            NotificationChannelType(channel_id=channel.id, event_type=kind)
            for kind in channel.event_types
        )
    eight_thirty = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert await send_daily_summaries(sqlite_db, eight_thirty) == 1
    assert await send_daily_summaries(sqlite_db, eight_thirty + timedelta(hours=1)) == 0
    for _ in range(2):
        async with sqlite_db.session_scope() as session:
            await announce(
                session, "the broker does not answer", FleetObservation(None, None), utcnow()
            )
    async with sqlite_db.session_scope() as session:
        for initiator in ("owner", "bot"):
            record_event(
                session,
                user_id=admin_id,
                bot_id=None,
                type=EventType.STOPPED,
                message=f"stopped by {initiator}",
                at=utcnow(),
                data={"initiator": initiator},
            )
    async with sqlite_db.session_scope() as session:
        types = (await session.scalars(select(Event.type).order_by(Event.id))).all()
        outbox = (await session.scalars(select(NotificationOutbox.channel_id))).all()
        by_itself = await events_repository.events_after(
            session, admin_id, after_id=0, bot_id=None, types=(), limit=10, stopped_by="bot"
        )
    assert list(types) == ["daily_summary", "fleet_stalled", "stopped", "stopped"]
    assert list(outbox) == [channel.id, channel.id]
    assert [event.message for event in by_itself] == ["stopped by bot"]
