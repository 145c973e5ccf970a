"""/api/v1/events: the journal of all of the user's bots, read by cursor."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.bots.schemas import StoppedBy
from autogrid.core.pagination import MAX_PAGE_SIZE
from autogrid.events import service
from autogrid.events.schemas import EventCursorPage, EventRead
from autogrid.events.types import EventType

router = APIRouter(prefix="/events", tags=["events"])

MAX_TYPE_FILTERS = len(EventType)
MAX_EVENT_ID = 2**63 - 1

AfterId = Annotated[
    int, Query(ge=0, le=MAX_EVENT_ID, description="only events with a greater id (a cursor)")
]
TypeFilter = Annotated[
    list[EventType] | None, Query(max_length=MAX_TYPE_FILTERS, description="any of these types")
]


@router.get("", response_model=EventCursorPage)
async def list_events(
    user: CurrentUser,
    session: SessionDep,
    after_id: AfterId = 0,
    type: TypeFilter = None,
    bot_id: Annotated[uuid.UUID | None, Query(description="only this bot's events")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")] = 50,
    stopped_by: Annotated[
        StoppedBy | None,
        Query(
            description="bot: the events of bots stopping or halting without their owner asking "
            "(stop events with data.initiator bot, error, breaker_tripped, order_not_placed, "
            "replay_finished); owner: the stops their owner asked for"
        ),
    ] = None,
) -> EventCursorPage:
    """The user's events across all bots, oldest first after the cursor."""
    page = await service.list_events(
        session,
        user,
        after_id=after_id,
        limit=limit,
        bot_id=bot_id,
        types=type or (),
        stopped_by=stopped_by.value if stopped_by is not None else None,
    )
    return EventCursorPage(
        items=[EventRead.of(event) for event in page.events],
        next_after_id=page.next_after_id,
        has_more=page.has_more,
    )
