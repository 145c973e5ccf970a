"""SQL for notification channels, their subscriptions and their delivery log."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core import owned_rows
from autogrid.models import (
    Bot,
    NotificationChannel,
    NotificationChannelBot,
    NotificationChannelType,
    NotificationDelivery,
)


async def get_for_user(
    session: AsyncSession, user_id: uuid.UUID, channel_id: uuid.UUID, *, lock: bool = False
) -> NotificationChannel | None:
    query = select(NotificationChannel).where(
        NotificationChannel.id == channel_id, NotificationChannel.user_id == user_id
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[NotificationChannel], int]:
    return await owned_rows.list_for_user(session, NotificationChannel, user_id, limit, offset)


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await owned_rows.count_for_user(session, NotificationChannel, user_id)


async def label_taken(
    session: AsyncSession, user_id: uuid.UUID, label: str, *, except_id: uuid.UUID | None = None
) -> bool:
    return await owned_rows.label_taken(
        session, NotificationChannel, user_id, label, except_id=except_id
    )


async def owned_bot_ids(
    session: AsyncSession, user_id: uuid.UUID, bot_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(Bot.id).where(Bot.user_id == user_id, Bot.id.in_(list(bot_ids)))
    )
    return set(rows.all())


async def bot_ids_by_channel(
    session: AsyncSession, channel_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    if not channel_ids:
        return {}
    rows = await session.execute(
        select(NotificationChannelBot.channel_id, NotificationChannelBot.bot_id)
        .where(NotificationChannelBot.channel_id.in_(list(channel_ids)))
        .order_by(NotificationChannelBot.bot_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for channel_id, bot_id in rows:
        found[channel_id].append(bot_id)
    return dict(found)


async def replace_subscription_rows(
    session: AsyncSession,
    channel_id: uuid.UUID,
    *,
    event_types: Collection[str],
    bot_ids: Collection[uuid.UUID],
) -> None:
    """The channel's effective types and bots become exactly these."""
    await session.execute(
        delete(NotificationChannelType).where(NotificationChannelType.channel_id == channel_id)
    )
    await session.execute(
        delete(NotificationChannelBot).where(NotificationChannelBot.channel_id == channel_id)
    )
    session.add_all(
        NotificationChannelType(channel_id=channel_id, event_type=event_type)
        for event_type in event_types
    )
    session.add_all(
        NotificationChannelBot(channel_id=channel_id, bot_id=bot_id) for bot_id in bot_ids
    )


async def delete_channel(session: AsyncSession, channel_id: uuid.UUID) -> None:
    """The channel, its subscription rows and its delivery log (ON DELETE CASCADE)."""
    await session.execute(
        delete(NotificationChannel)
        .where(NotificationChannel.id == channel_id)
        .execution_options(synchronize_session=False)
    )


def add_delivery(session: AsyncSession, delivery: NotificationDelivery) -> None:
    session.add(delivery)


async def deliveries(
    session: AsyncSession, channel_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[NotificationDelivery], int]:
    """The channel's delivery attempts, newest first, with how many there are in all."""
    where = NotificationDelivery.channel_id == channel_id
    total = await session.scalar(
        select(func.count()).select_from(NotificationDelivery).where(where)
    )
    rows = await session.scalars(
        select(NotificationDelivery)
        .where(where)
        .order_by(NotificationDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def prune_deliveries_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Delete up to ``batch`` of the oldest delivery log rows written before ``cutoff``."""
    oldest = (
        select(NotificationDelivery.id)
        .where(NotificationDelivery.created_at < cutoff)
        .order_by(NotificationDelivery.id)
        .limit(batch)
    ).scalar_subquery()
    result = await session.execute(
        delete(NotificationDelivery)
        .where(NotificationDelivery.id.in_(oldest))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
