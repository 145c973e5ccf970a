"""SQL for the event journal: adding rows, reading them by id, pruning the oldest."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.types import SELF_STOP_TYPES, STOP_TYPES
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
    stopped_by: str | None = None,
) -> Sequence[Event]:
    """The user's events with ids above ``after_id``, oldest first (a cursor page)."""
    query = select(Event).where(Event.user_id == user_id, Event.id > after_id)
    if bot_id is not None:
        query = query.where(Event.bot_id == bot_id)
    if stopped_by is not None:
        query = query.where(_stopped_by(stopped_by))
    if types:
        query = query.where(Event.type.in_(types))
    rows = await session.scalars(query.order_by(Event.id).limit(limit))
    return rows.all()


def _stopped_by(initiator: str) -> ColumnElement[bool]:
    """Stop events whose ``data.initiator`` is ``initiator``; for "bot", also the events that
    halt or stop a bot by themselves (an error, the breaker, an order given up, a replay's end)."""
    by_initiator = and_(
        Event.type.in_([t.value for t in STOP_TYPES]),
        Event.data["initiator"].as_string() == initiator,
    )
    if initiator != "bot":
        return by_initiator
    return or_(by_initiator, Event.type.in_([t.value for t in SELF_STOP_TYPES]))


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
