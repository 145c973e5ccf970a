"""The administrators' view of the platform at work: every user's bots, the worker fleet and its
queues, and the problems that need a person, newest first."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Collection

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.admin import repository
from autogrid.admin.schemas import (
    AdminBotRead,
    FleetRead,
    ProblemPage,
    ProblemRead,
    WorkerRead,
)
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.events.types import PROBLEM_TYPES, EventType
from autogrid.performance.recorder import tick_lag_seconds
from autogrid.worker.fleet import FleetView

# Asks the broker (blocking, up to about a second): run in a thread.
FleetProbe = Callable[[], FleetView]


async def list_bots(
    session: AsyncSession,
    page: PageParams,
    *,
    statuses: Collection[str],
    errored: bool | None,
    user_id: uuid.UUID | None,
) -> tuple[list[AdminBotRead], int]:
    rows, total = await repository.list_bots(
        session,
        statuses=statuses,
        errored=errored,
        user_id=user_id,
        limit=page.limit,
        offset=page.offset,
    )
    bots = [
        AdminBotRead.model_validate(
            {**{c.key: getattr(bot, c.key) for c in bot.__table__.columns}, "owner_email": email}
        )
        for bot, email in rows
    ]
    return bots, total


async def fleet(session: AsyncSession, probe: FleetProbe) -> FleetRead:
    by_status = await repository.bots_by_status(session)
    lag = tick_lag_seconds(await repository.running_tick_times(session), utcnow())
    view = await asyncio.to_thread(probe)
    workers = (
        None
        if view.workers is None
        else [WorkerRead.model_validate(worker, from_attributes=True) for worker in view.workers]
    )
    return FleetRead(
        workers=workers,
        workers_note=view.note,
        queues=view.queues,
        bots=by_status,
        tick_lag_seconds=lag,
    )


async def problems(
    session: AsyncSession,
    *,
    types: Collection[EventType],
    before_id: int | None,
    limit: int,
) -> ProblemPage:
    wanted = [t.value for t in (types or PROBLEM_TYPES)]
    rows = await repository.recent_problems(session, wanted, before_id, limit + 1)
    items = [
        ProblemRead(
            id=event.id,
            type=EventType(event.type),
            user_id=event.user_id,
            owner_email=email,
            bot_id=event.bot_id,
            bot_name=bot_name,
            message=event.message,
            data=event.data,
            created_at=event.created_at,
        )
        for event, email, bot_name in rows[:limit]
    ]
    more = len(rows) > limit
    return ProblemPage(items=items, next_before_id=items[-1].id if more and items else None)
