"""SQL for live delivery: the journal read in id order across all users (the process-wide feed),
one user's filtered range (a connection's replay) and the users whose streams may go on."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Event, User

USERS_PER_QUERY = 1_000


async def newest_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.max(Event.id))) or 0)


async def oldest_id(session: AsyncSession) -> int | None:
    value = await session.scalar(select(func.min(Event.id)))
    return None if value is None else int(value)


async def ids_after(session: AsyncSession, after_id: int, limit: int) -> Sequence[int]:
    """Every user's event ids above ``after_id``, ascending (the index alone answers)."""
    rows = await session.scalars(
        select(Event.id).where(Event.id > after_id).order_by(Event.id).limit(limit)
    )
    return rows.all()


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


async def token_versions_of_active(
    session: AsyncSession, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Each active user's current ``token_version``; inactive and deleted users are absent."""
    ids = list(user_ids)
    versions: dict[uuid.UUID, int] = {}
    for start in range(0, len(ids), USERS_PER_QUERY):
        rows = await session.execute(
            select(User.id, User.token_version).where(
                User.id.in_(ids[start : start + USERS_PER_QUERY]), User.is_active.is_(True)
            )
        )
        versions.update({user_id: version for user_id, version in rows.all()})
    return versions
