"""/api/v1/ws (the live stream) and /api/v1/ws/ticket (how a client gets in)."""

from __future__ import annotations

from fastapi import APIRouter, Request, WebSocket
from starlette.datastructures import State

from autogrid.auth.dependencies import CurrentUser
from autogrid.live.runtime import LiveEvents
from autogrid.live.schemas import TicketRead
from autogrid.live.socket import serve_socket

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
    ticket = await _live(request.app.state).tickets.issue(user.id)
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
