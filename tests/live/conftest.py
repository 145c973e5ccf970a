"""Live events tests: a real uvicorn server on a free port and a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect

from autogrid.app import create_app
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.live import runtime
from autogrid.live.hub import LiveHub
from autogrid.models import Bot, User
from tests.bots.conftest import store_replay_candles
from tests.helpers import ApiUser, register_user, unique_email
from tests.worker.processes import free_port

STARTUP_TIMEOUT_SECONDS = 60
# Generous: a shared, busy machine; the assertions never depend on timing.
RECEIVE_TIMEOUT_SECONDS = 30


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    http: httpx.AsyncClient

    @property
    def hub(self) -> LiveHub:
        hub: LiveHub = self.app.state.live_events.hub
        return hub

    def ws_url(self, ticket: str) -> str:
        return self.base_url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket}"

    async def ticket(self, user: ApiUser) -> str:
        response = await self.http.post("/api/v1/ws/ticket", headers=user.headers)
        assert response.status_code == 200, response.text
        assert response.json()["expires_in"] == 30
        ticket: str = response.json()["ticket"]
        return ticket

    async def connect(self, user: ApiUser, **options: Any) -> ClientConnection:
        return await connect(self.ws_url(await self.ticket(user)), **options)


@pytest.fixture
async def replay_candles(db: Database) -> None:
    """What the default bot body replays: bots are created through the API."""
    await store_replay_candles(db)


@pytest.fixture
def feed_grace() -> float:
    """How long the feed waits for an id hole; a test parametrizes it to wait for ever."""
    return runtime.GAP_GRACE_SECONDS


# The feed's periodic check of the open streams' users, shortened from its 5 s by the tests of a
# revocation: what closes a revoked stream is the same check, made sooner.
REVOCATION_CHECK_SECONDS = 0.2


@pytest.fixture
def access_check_seconds() -> float:
    """How often the feed checks the open streams' users (``REVOCATION_CHECK_SECONDS`` where a
    test parametrizes it)."""
    return runtime.ACCESS_CHECK_SECONDS


async def serve(
    settings: Settings, grace: float, access_check: float = runtime.ACCESS_CHECK_SECONDS
) -> AsyncIterator[LiveServer]:
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    with (
        patch.object(runtime, "GAP_GRACE_SECONDS", grace),
        patch.object(runtime, "ACCESS_CHECK_SECONDS", access_check),
    ):
        task = asyncio.create_task(server.serve())
        await started(server, task)
    try:
        app.state.market_rules_provider = conservative_market_rules
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield LiveServer(app, base_url, http)
    finally:
        server.should_exit = True
        await task


async def started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
        while not server.started:
            assert not task.done(), "the server stopped while starting"
            await asyncio.sleep(0.05)


@pytest.fixture
async def live(
    settings: Settings,
    db: Database,
    replay_candles: None,
    feed_grace: float,
    access_check_seconds: float,
) -> AsyncIterator[LiveServer]:
    async for server in serve(settings, feed_grace, access_check_seconds):
        yield server


@pytest.fixture
async def alice(live: LiveServer) -> ApiUser:
    return await register_user(live.http, unique_email("alice"))


@pytest.fixture
async def bob(live: LiveServer) -> ApiUser:
    return await register_user(live.http, unique_email("bob"))


async def journal(db: Database, bot_id: str, types: list[EventType]) -> list[int]:
    """Events written as every writer does (``record_event``), in one committed transaction."""
    async with db.session_scope() as session:
        return await journal_in(session, bot_id, types)


async def journal_in(session: AsyncSession, bot_id: str, types: list[EventType]) -> list[int]:
    """Events added to the caller's transaction (flushed: their ids are drawn)."""
    bot = await session.get(Bot, uuid.UUID(bot_id))
    assert bot is not None
    events = [
        record_event(
            session,
            user_id=bot.user_id,
            bot_id=bot.id,
            type=type,
            message=f"event {number}",
            at=utcnow(),
            data={"n": number},
        )
        for number, type in enumerate(types)
    ]
    await session.flush()
    return [event.id for event in events]


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait for a condition the server reaches on its own (a generous limit, never a sleep as
    synchronisation: the assertion is the condition)."""
    async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
        while not condition():
            await asyncio.sleep(0.02)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
        message = json.loads(await ws.recv())
    assert set(message) == {"id", "ts", "type", "bot_id", "data"}
    result: dict[str, Any] = message
    return result


async def subscribe(ws: ClientConnection, **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"action": "subscribe", **fields}))
    answer = await receive(ws)
    assert answer["type"] == "subscribed" and answer["id"] is None
    return answer


async def receive_ids(ws: ClientConnection, count: int) -> list[int]:
    return [(await receive(ws))["id"] for _ in range(count)]


async def add_user(db: Database) -> uuid.UUID:
    """A user row, for tests that need no API."""
    async with db.session_scope() as session:
        user = User(email=unique_email("row"), password_hash="x")
        session.add(user)
        await session.flush()
        return user.id
