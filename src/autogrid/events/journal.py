"""Writing the journal: every writer goes through ``record_event``, inside the caller's
transaction. It adds the row and never commits, so the event and the change it describes are
committed together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events import repository
from autogrid.events.types import EventType
from autogrid.live.wakeup import mark_written
from autogrid.models import Event

MESSAGE_LIMIT = 2000


def record_event(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    bot_id: uuid.UUID | None,
    type: EventType,
    message: str,
    at: datetime,
    data: Mapping[str, Any] | None = None,
) -> Event:
    """Add one event to the caller's transaction (its id is assigned at the next flush)."""
    event = Event(
        user_id=user_id,
        bot_id=bot_id,
        type=type.value,
        message=message[:MESSAGE_LIMIT],
        data=dict(data) if data else None,
        created_at=at,
    )
    repository.add_event(session, event)
    mark_written(session)  # live streams hear of it once the caller commits
    return event


async def record_for_bot_owners(
    session: AsyncSession, type: EventType, message: str, at: datetime, data: Mapping[str, Any]
) -> int:
    """One account-level event for every user who owns a bot (the kill switch concerns them
    all); how many were written."""
    mark_written(session)
    return await repository.add_for_bot_owners(
        session, type=type.value, message=message[:MESSAGE_LIMIT], data=dict(data), at=at
    )
