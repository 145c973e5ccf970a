"""SQL for live delivery: the journal read in id order across all users (the process-wide feed)
and one user's filtered range (a connection's replay)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Event


async def newest_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Event.id))) or 0)


async def oldest_id(session: AsyncSession) -> int | None:
    value = await session.scalar(select(func.min(Event.id)))
    return None if value is None else int(value)


async def events_after(session: AsyncSession, after_id: int, limit: int) -> Sequence[Event]:
    """Every user's events above ``after_id``, oldest first."""
    rows = await session.scalars(
        select(Event).where(Event.id > after_id).order_by(Event.id).limit(limit)
    )
    return rows.all()


async def user_events_between(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    after_id: int,
    up_to_id: int,
    bot_ids: Collection[uuid.UUID],
    types: Collection[str],
    limit: int,
) -> Sequence[Event]:
    """The user's events with ``after_id < id <= up_to_id`` matching the filters, oldest first."""
    query = select(Event).where(Event.user_id == user_id, Event.id > after_id, Event.id <= up_to_id)
    if bot_ids:
        query = query.where(Event.bot_id.in_(bot_ids))
    if types:
        query = query.where(Event.type.in_(types))
    rows = await session.scalars(query.order_by(Event.id).limit(limit))
    return rows.all()
