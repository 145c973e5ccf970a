"""SQL of the daily summary: who wants one, the once-a-day key, and what a day held."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.types import EventType
from autogrid.models import (
    Bot,
    BotMetric,
    DailySummary,
    Fill,
    NotificationChannel,
    NotificationChannelType,
    NotificationPreferences,
)

Subscriber = tuple[uuid.UUID, str | None, int | None]  # user id, time zone, local hour


async def subscribers(session: AsyncSession) -> Sequence[Subscriber]:
    """Users with an active channel that receives the daily summary, with their preferences
    (null: none saved)."""
    rows = await session.execute(
        select(
            NotificationChannel.user_id,
            NotificationPreferences.timezone,
            NotificationPreferences.daily_summary_hour,
        )
        .join(
            NotificationChannelType,
            (NotificationChannelType.channel_id == NotificationChannel.id)
            & (NotificationChannelType.event_type == EventType.DAILY_SUMMARY.value),
        )
        .outerjoin(
            NotificationPreferences,
            NotificationPreferences.user_id == NotificationChannel.user_id,
        )
        .where(NotificationChannel.state == "active")
        .distinct()
    )
    return [(user_id, zone, hour) for user_id, zone, hour in rows]


async def claim_day(session: AsyncSession, user_id: uuid.UUID, day: date, now: datetime) -> bool:
    """True for the one transaction that records this user's summary of this day. A concurrent
    claimer waits on the key until the first commits, then gets False (or True after a
    rollback), so two beats or workers never both send."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(DailySummary)
        .values(user_id=user_id, day=day, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "day"])
        .returning(DailySummary.user_id)
    )
    return (await session.scalar(statement)) is not None


async def link_event(session: AsyncSession, user_id: uuid.UUID, day: date, event_id: int) -> None:
    await session.execute(
        update(DailySummary)
        .where(DailySummary.user_id == user_id, DailySummary.day == day)
        .values(event_id=event_id)
    )


async def trades_between(
    session: AsyncSession, user_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Fill)
        .join(Bot, Bot.id == Fill.bot_id)
        .where(Bot.user_id == user_id, Fill.ts >= start, Fill.ts < end)
    )
    return count or 0


async def realized_at(
    session: AsyncSession, user_id: uuid.UUID, at: datetime
) -> list[tuple[uuid.UUID, str, Decimal | None]]:
    """Each bot's realised P&L in its last sample before ``at`` (null: no sample yet), with
    its symbol."""
    last = (
        select(BotMetric.realized_pnl)
        .where(BotMetric.bot_id == Bot.id, BotMetric.ts < at)
        .order_by(BotMetric.ts.desc())
        .limit(1)
        .correlate(Bot)
        .scalar_subquery()
    )
    rows = await session.execute(select(Bot.id, Bot.symbol, last).where(Bot.user_id == user_id))
    return [(bot_id, symbol, value) for bot_id, symbol, value in rows]


async def bots_by_status(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(Bot.status, func.count()).where(Bot.user_id == user_id).group_by(Bot.status)
    )
    return {status: count for status, count in rows}


async def preferences(
    session: AsyncSession, user_id: uuid.UUID, *, lock: bool = False
) -> NotificationPreferences | None:
    query = select(NotificationPreferences).where(NotificationPreferences.user_id == user_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


def add_preferences(session: AsyncSession, row: NotificationPreferences) -> None:
    session.add(row)
