"""SQL for the notification outbox: claiming due rows, reading what they point at, and writing
each attempt's outcome."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot, Event, NotificationChannel, NotificationOutbox

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Claim:
    outbox_id: int
    event_id: int
    channel_id: uuid.UUID
    attempt: int  # this attempt's number, from 1


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claim]:
    """Pending rows of active channels that are due, oldest first, each counted as one more
    attempt and hidden from other senders until ``lease_until``. Rows another transaction is
    claiming are skipped (PostgreSQL); the conditions are repeated in the UPDATE so that a row
    claimed meanwhile is never claimed twice (SQLite, which has no row locks)."""
    due = (
        select(NotificationOutbox.id)
        .join(NotificationChannel, NotificationChannel.id == NotificationOutbox.channel_id)
        .where(
            NotificationOutbox.status == PENDING,
            NotificationOutbox.next_attempt_at <= now,
            NotificationChannel.state == "active",
        )
        .order_by(NotificationOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=NotificationOutbox)
    )
    rows = await session.execute(
        update(NotificationOutbox)
        .where(
            NotificationOutbox.id.in_(due.scalar_subquery()),
            NotificationOutbox.status == PENDING,
            NotificationOutbox.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease_until, attempts=NotificationOutbox.attempts + 1)
        .returning(
            NotificationOutbox.id,
            NotificationOutbox.event_id,
            NotificationOutbox.channel_id,
            NotificationOutbox.attempts,
        )
        .execution_options(synchronize_session=False)
    )
    claims = [Claim(row[0], row[1], row[2], row[3]) for row in rows]
    return sorted(claims, key=lambda claim: claim.outbox_id)


async def events_by_id(session: AsyncSession, ids: Collection[int]) -> dict[int, Event]:
    if not ids:
        return {}
    rows = await session.scalars(select(Event).where(Event.id.in_(list(ids))))
    return {event.id: event for event in rows}


async def channels_by_id(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, NotificationChannel]:
    if not ids:
        return {}
    rows = await session.scalars(
        select(NotificationChannel).where(NotificationChannel.id.in_(list(ids)))
    )
    return {channel.id: channel for channel in rows}


async def lock_channel(session: AsyncSession, channel_id: uuid.UUID) -> NotificationChannel | None:
    return await session.scalar(
        select(NotificationChannel)
        .where(NotificationChannel.id == channel_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def mark_delivered(session: AsyncSession, outbox_id: int, at: datetime) -> None:
    await session.execute(
        update(NotificationOutbox)
        .where(NotificationOutbox.id == outbox_id, NotificationOutbox.status == PENDING)
        .values(status=DELIVERED, delivered_at=at, last_error=None)
        .execution_options(synchronize_session=False)
    )


async def mark_failed_attempt(
    session: AsyncSession,
    outbox_id: int,
    *,
    error: str,
    retry_at: datetime | None,
) -> None:
    """Due again at ``retry_at``, or failed for good when it is None."""
    values: dict[str, object] = {"last_error": error}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    await session.execute(
        update(NotificationOutbox)
        .where(NotificationOutbox.id == outbox_id, NotificationOutbox.status == PENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def postpone(
    session: AsyncSession, outbox_id: int, *, error: str | None, retry_at: datetime
) -> None:
    """Due again at ``retry_at`` without this attempt counting (the receiver asked to wait)."""
    await session.execute(
        update(NotificationOutbox)
        .where(NotificationOutbox.id == outbox_id, NotificationOutbox.status == PENDING)
        .values(
            next_attempt_at=retry_at,
            attempts=NotificationOutbox.attempts - 1,
            last_error=error,
        )
        .execution_options(synchronize_session=False)
    )


async def bot_names(session: AsyncSession, ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Bot.id, Bot.name).where(Bot.id.in_(list(ids))))
    return {bot_id: name for bot_id, name in rows}
