"""SQL for the event journal: adding rows, reading them by id, pruning the oldest."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot, Event


def add_event(session: AsyncSession, event: Event) -> None:
    session.add(event)


async def add_for_bot_owners(
    session: AsyncSession, *, type: str, message: str, data: dict[str, Any], at: datetime
) -> int:
    """One event per distinct owner of a bot, in one INSERT ... SELECT."""
    owners = select(
        Bot.user_id,
        literal(type).label("type"),
        literal(message).label("message"),
        literal(data, Event.data.type).label("data"),
        literal(at, Event.created_at.type).label("created_at"),
    ).distinct()
    result = await session.execute(
        insert(Event).from_select(["user_id", "type", "message", "data", "created_at"], owners)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def events_after(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    after_id: int,
    bot_id: uuid.UUID | None,
    types: Collection[str],
    limit: int,
) -> Sequence[Event]:
    """The user's events with ids above ``after_id``, oldest first (a cursor page)."""
    query = select(Event).where(Event.user_id == user_id, Event.id > after_id)
    if bot_id is not None:
        query = query.where(Event.bot_id == bot_id)
    if types:
        query = query.where(Event.type.in_(types))
    rows = await session.scalars(query.order_by(Event.id).limit(limit))
    return rows.all()


async def bot_events(
    session: AsyncSession,
    bot_id: uuid.UUID,
    *,
    types: Collection[str],
    after_id: int,
    limit: int,
    offset: int,
) -> tuple[Sequence[Event], int]:
    """One bot's events, newest first, with how many match in all."""
    query = select(Event).where(Event.bot_id == bot_id, Event.id > after_id)
    if types:
        query = query.where(Event.type.in_(types))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(query.order_by(Event.id.desc()).limit(limit).offset(offset))
    return rows.all(), total or 0


async def prune_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Delete up to ``batch`` of the oldest events created before ``cutoff``; how many went."""
    oldest = (
        select(Event.id).where(Event.created_at < cutoff).order_by(Event.id).limit(batch)
    ).scalar_subquery()
    result = await session.execute(
        delete(Event).where(Event.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
