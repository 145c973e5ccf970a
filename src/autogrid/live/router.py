"""/api/v1/ws (the live stream), /api/v1/ws/ticket (how a client gets in) and
/api/v1/events/stream (the same stream as Server-Sent Events)."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket
from fastapi.responses import StreamingResponse
from starlette.datastructures import State

from autogrid.api.deps import SessionDep, SettingsDep
from autogrid.auth.dependencies import (
    AccessDenylistDep,
    BearerToken,
    CurrentUser,
    get_auth_user_cache,
)
from autogrid.auth.service import authenticate_access_token
from autogrid.core.errors import Unauthorized
from autogrid.events.types import EventType
from autogrid.live import service
from autogrid.live.runtime import LiveEvents
from autogrid.live.schemas import (
    LAST_EVENT_ID_PATTERN,
    MAX_BOT_FILTERS,
    MAX_EVENT_ID,
    TicketRead,
)
from autogrid.live.socket import serve_socket
from autogrid.live.sse import sse_frames
from autogrid.live.tickets import TicketHolder
from autogrid.models import UserIdentity

router = APIRouter(tags=["events"])


def _live(state: State) -> LiveEvents:
    live: LiveEvents = state.live_events
    return live


@router.post("/ws/ticket", response_model=TicketRead)
async def issue_ticket(request: Request, user: CurrentUser) -> TicketRead:
    """A single-use ticket for the live events WebSocket, valid 30 seconds.

    Connect to `GET /api/v1/ws?ticket=...` and send a `subscribe` message; the envelope, the
    messages and the close codes are described in docs/live-events.md.
    """
    holder = TicketHolder(user.id, user.token_version)
    ticket = await _live(request.app.state).tickets.issue(holder)
    return TicketRead(ticket=ticket)


@router.websocket("/ws")
async def live_socket(websocket: WebSocket) -> None:
    state = websocket.app.state
    live = _live(state)
    await serve_socket(
        websocket,
        settings=state.settings,
        database=state.db,
        hub=live.hub,
        tickets=live.tickets,
    )


async def stream_user(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    denylist: AccessDenylistDep,
    token: BearerToken,
    ticket: Annotated[
        str | None, Query(description="a ticket from POST /ws/ticket, for EventSource")
    ] = None,
) -> UserIdentity:
    """A bearer token, or a ticket for clients that cannot set headers (EventSource)."""
    if ticket is not None:
        live = _live(request.app.state)
        return await service.user_for_ticket(request.app.state.db, live.tickets, ticket)
    if not token:
        raise Unauthorized("not authenticated")
    cache = get_auth_user_cache(request)
    return await authenticate_access_token(
        lambda: nullcontext(session), settings, denylist, cache, token
    )


@router.get(
    "/events/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the event stream"}},
)
async def stream_events(
    request: Request,
    user: Annotated[UserIdentity, Depends(stream_user)],
    bot_id: Annotated[list[uuid.UUID] | None, Query(max_length=MAX_BOT_FILTERS)] = None,
    type: Annotated[list[EventType] | None, Query(max_length=len(EventType))] = None,
    last_event_id: Annotated[
        int | None, Query(ge=0, le=MAX_EVENT_ID, description="replay after this id")
    ] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=LAST_EVENT_ID_PATTERN)
    ] = None,
) -> StreamingResponse:
    """The live events stream as Server-Sent Events (docs/live-events.md).

    Same envelopes and order as the WebSocket; `Last-Event-ID` (or `last_event_id`) resumes.
    """
    state = request.app.state
    after = service.parse_last_event_id(last_event_id_header, last_event_id)
    wanted = await service.check_filter(state.db, user, bot_id or [], [t.value for t in type or []])
    envelopes = service.stream_events(state.db, _live(state).hub, user, wanted, after)
    return StreamingResponse(
        sse_frames(envelopes),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
