"""SQL of the administrators' views: users, every user's bots, problems across the platform."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Row, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot, BotStatus, Event, User


def _escape_like(text: str) -> str:
    # The filter is a substring, not a pattern: "%" and "_" typed by the admin match themselves.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_users(
    session: AsyncSession, email_contains: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    query = select(User)
    if email_contains:
        pattern = f"%{_escape_like(email_contains.lower())}%"
        query = query.where(User.email.like(pattern, escape="\\"))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    # created_at then id: a stable order, so pages neither repeat nor skip users.
    rows = await session.scalars(
        query.order_by(User.created_at, User.id).limit(limit).offset(offset)
    )
    return rows.all(), total or 0


async def list_bots(
    session: AsyncSession,
    *,
    statuses: Collection[str],
    errored: bool | None,
    user_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Row[Bot, str]], int]:
    """Bots of every user with their owner's email, most recently changed first."""
    query = select(Bot, User.email).join(User, User.id == Bot.user_id)
    if statuses:
        query = query.where(Bot.status.in_(list(statuses)))
    if errored is not None:
        has_problem = or_(Bot.error.is_not(None), Bot.breaker_reason.is_not(None))
        query = query.where(has_problem if errored else not_(has_problem))
    if user_id is not None:
        query = query.where(Bot.user_id == user_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.execute(
        query.order_by(Bot.updated_at.desc(), Bot.id).limit(limit).offset(offset)
    )
    return rows.all(), total or 0


async def bots_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Bot.status, func.count()).group_by(Bot.status))
    return {status: int(count) for status, count in rows.all()}


async def running_tick_times(
    session: AsyncSession,
) -> Sequence[Row[str, datetime | None, datetime | None, int]]:
    """Just what the tick lag is computed from, for every running bot."""
    rows = await session.execute(
        select(Bot.status, Bot.last_tick_at, Bot.started_at, Bot.tick_interval_seconds).where(
            Bot.status == BotStatus.RUNNING
        )
    )
    return rows.all()


async def recent_problems(
    session: AsyncSession, types: Collection[str], before_id: int | None, limit: int
) -> Sequence[Row[Event, str, str]]:
    """Problem events of every user, newest first, with the owner's email and the bot's name
    (None for an account-level event, whatever the row type says: the bot join is outer)."""
    query = (
        select(Event, User.email, Bot.name)
        .join(User, User.id == Event.user_id)
        .outerjoin(Bot, Bot.id == Event.bot_id)
        .where(Event.type.in_(list(types)))
    )
    if before_id is not None:
        query = query.where(Event.id < before_id)
    rows = await session.execute(query.order_by(Event.id.desc()).limit(limit))
    return rows.all()
