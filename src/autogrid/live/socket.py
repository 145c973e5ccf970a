"""One WebSocket connection: origin and ticket checked, one ``subscribe`` message read, then the
stream sent while the client's messages are limited in size and rate.

Heartbeats are protocol pings: uvicorn pings the client (``ws_ping_interval``) and answers the
client's pings. Close codes are listed in docs/live-events.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.errors import AppError, NotFound, Unauthorized
from autogrid.live import service
from autogrid.live.envelope import Control, control_envelope, dumps
from autogrid.live.hub import LiveHub
from autogrid.live.schemas import SubscribeMessage
from autogrid.live.subscription import AccessRevoked
from autogrid.live.tickets import TicketStore
from autogrid.models import UserIdentity

logger = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_BAD_MESSAGE = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_ORIGIN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NO_SUBSCRIBE = 4408
CLOSE_RESYNC = 4409

MAX_CLIENT_MESSAGE_BYTES = 4_096
# The server's own limits (uvicorn): a bigger frame is refused before it is buffered, and a
# peer that leaves a ping unanswered this long is dropped.
MAX_FRAME_BYTES = 64 * 1024
PING_INTERVAL_SECONDS = 20.0
PING_TIMEOUT_SECONDS = 20.0
# At most this many client messages in any window of this many seconds.
CLIENT_MESSAGES_PER_WINDOW = 20
CLIENT_WINDOW_SECONDS = 10.0
SUBSCRIBE_WAIT_SECONDS = 10.0


class Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """No Origin (not a browser) passes: the ticket still has to be good. A browser page passes
    from a CORS_ORIGINS origin or from the API's own origin."""
    if origin is None:
        return True
    if origin in allowed:
        return True
    return host is not None and urlsplit(origin).netloc == host


class ClientMessages:
    """The client's messages, each bounded in size and all of them in rate."""

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._times: deque[float] = deque()

    async def next(self) -> str:
        message = await self._websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text: str | None = message.get("text")
        if text is None:
            raise Closing(CLOSE_BAD_MESSAGE, "messages are JSON text")
        if len(text.encode()) > MAX_CLIENT_MESSAGE_BYTES:
            raise Closing(CLOSE_TOO_BIG, f"messages are at most {MAX_CLIENT_MESSAGE_BYTES} bytes")
        now = time.monotonic()
        while self._times and self._times[0] <= now - CLIENT_WINDOW_SECONDS:
            self._times.popleft()
        if len(self._times) >= CLIENT_MESSAGES_PER_WINDOW:
            raise Closing(CLOSE_POLICY, "too many messages")
        self._times.append(now)
        return text


async def serve_socket(
    websocket: WebSocket,
    *,
    settings: Settings,
    database: Database,
    hub: LiveHub,
    tickets: TicketStore,
) -> None:
    # Accepted first: a close code reaches the client only on an open connection.
    await websocket.accept()
    try:
        await _serve(websocket, settings, database, hub, tickets)
    except Closing as closing:
        await _close(websocket, closing.code, closing.reason)
    except WebSocketDisconnect:
        return
    except Exception:
        logger.exception("live events: a WebSocket connection failed")
        await _close(websocket, CLOSE_INTERNAL, "internal error")


async def _serve(
    websocket: WebSocket, settings: Settings, database: Database, hub: LiveHub, tickets: TicketStore
) -> None:
    origin = websocket.headers.get("origin")
    if not origin_allowed(origin, websocket.headers.get("host"), settings.cors_origins):
        raise Closing(CLOSE_ORIGIN, "origin not allowed")
    try:
        user = await service.user_for_ticket(
            database, tickets, websocket.query_params.get("ticket", "")
        )
    except Unauthorized as error:
        raise Closing(CLOSE_UNAUTHORIZED, error.message) from None
    messages = ClientMessages(websocket)
    try:
        first = await asyncio.wait_for(messages.next(), SUBSCRIBE_WAIT_SECONDS)
    except TimeoutError:
        raise Closing(CLOSE_NO_SUBSCRIBE, "no subscribe message") from None
    subscribe = _parse_subscribe(first)
    wanted = await _filter(database, user, subscribe)
    events = service.stream_events(database, hub, user, wanted, subscribe.last_event_id)
    sending = asyncio.create_task(_send_all(websocket, events))
    listening = asyncio.create_task(_listen(websocket, messages))
    try:
        done, _ = await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, listening):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await events.aclose()
    for task in done:
        task.result()  # a Closing or a disconnect, re-raised here


def _parse_subscribe(text: str) -> SubscribeMessage:
    try:
        return SubscribeMessage.model_validate_json(text)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}"
            for e in error.errors()[:3]
        )
        raise Closing(CLOSE_BAD_MESSAGE, f"bad subscribe message: {problems}"[:120]) from None


async def _filter(
    database: Database, user: UserIdentity, subscribe: SubscribeMessage
) -> service.StreamFilter:
    try:
        return await service.check_filter(
            database,
            user,
            subscribe.bot_ids,
            [t.value for t in subscribe.types],
        )
    except NotFound:
        raise Closing(CLOSE_NOT_FOUND, "bot not found") from None
    except AppError as error:
        raise Closing(CLOSE_BAD_MESSAGE, error.message[:120]) from None


async def _send_all(websocket: WebSocket, events: AsyncIterator[dict[str, Any]]) -> None:
    try:
        async for envelope in events:
            await websocket.send_text(dumps(envelope))
            if envelope["type"] == Control.RESYNC_REQUIRED:
                raise Closing(CLOSE_RESYNC, "resync required")
    except AccessRevoked as revoked:
        raise Closing(CLOSE_UNAUTHORIZED, str(revoked)) from None
    raise Closing(CLOSE_GOING_AWAY, "server shutting down")


async def _listen(websocket: WebSocket, messages: ClientMessages) -> None:
    """After ``subscribe`` the client has nothing to say: each message gets an ``error`` answer,
    and they all count against the rate limit."""
    while True:
        await messages.next()
        answer = control_envelope(
            Control.ERROR, {"message": "already subscribed: open a new connection to change it"}
        )
        await websocket.send_text(dumps(answer))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason)
