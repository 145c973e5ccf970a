"""Reading the journal: only the user's own events, by cursor (all bots) or by bot."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import service as bots
from autogrid.core.pagination import PageParams
from autogrid.events import repository
from autogrid.events.types import EventType
from autogrid.models import Event, UserIdentity


@dataclass(frozen=True, slots=True)
class CursorPage:
    events: Sequence[Event]
    next_after_id: int
    has_more: bool


async def list_events(
    session: AsyncSession,
    user: UserIdentity,
    *,
    after_id: int,
    limit: int,
    bot_id: uuid.UUID | None = None,
    types: Collection[EventType] = (),
    stopped_by: str | None = None,
) -> CursorPage:
    """The user's events after ``after_id``, oldest first. A ``bot_id`` the user does not own is
    a 404, like every other bot route."""
    if bot_id is not None:
        await bots.get_bot(session, user, bot_id)
    rows = await repository.events_after(
        session,
        user.id,
        after_id=after_id,
        bot_id=bot_id,
        types=[t.value for t in types],
        limit=limit + 1,
        stopped_by=stopped_by,
    )
    page = rows[:limit]
    return CursorPage(page, page[-1].id if page else after_id, len(rows) > limit)


async def list_bot_events(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    page: PageParams,
    *,
    types: Collection[EventType] = (),
    after_id: int = 0,
) -> tuple[Sequence[Event], int]:
    """One of the user's bots' events, newest first, offset-paged."""
    bot = await bots.get_bot(session, user, bot_id)
    return await repository.bot_events(
        session,
        bot.id,
        types=[t.value for t in types],
        after_id=after_id,
        limit=page.limit,
        offset=page.offset,
    )
