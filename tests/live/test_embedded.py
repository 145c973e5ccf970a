"""The embedded default (SQLite, no Redis): tickets in memory, the journal polled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from autogrid.core.config import Settings, load_settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.live.tickets import MemoryTickets
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot
from tests.conftest import TEST_JWT_SECRET
from tests.helpers import register_user
from tests.live.conftest import LiveServer, journal, receive, receive_ids, serve, subscribe
from tests.live.test_socket import closed_with


@pytest.fixture
def embedded_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        environment="development",
        database_url=sqlite_url,
        redis_url=None,
        jwt_secret=TEST_JWT_SECRET,
        encryption_keys=[new_encryption_key()],
        var_dir=tmp_path / "var",
        log_json=False,
    )


@pytest.fixture
async def embedded(embedded_settings: Settings, sqlite_db: Database) -> AsyncIterator[LiveServer]:
    await store_replay_candles(sqlite_db)
    async for server in serve(embedded_settings, grace=5.0):
        yield server


async def test_streams_replay_and_live_events_without_redis(
    embedded: LiveServer, sqlite_db: Database
) -> None:
    assert isinstance(embedded.app.state.live_events.tickets, MemoryTickets)
    user = await register_user(embedded.http)
    bot = (await create_bot(embedded.http, user))["id"]
    before = await journal(sqlite_db, bot, [EventType.FILL])
    ticket = await embedded.ticket(user)
    async with await embedded.connect(user) as ws:
        await subscribe(ws, last_event_id=before[0] - 1)
        assert (await receive(ws))["id"] == before[0]
        later = await journal(sqlite_db, bot, [EventType.ORDER_FILLED, EventType.DEAL_CLOSED])
        assert await receive_ids(ws, 2) == later
    async with connect(embedded.ws_url(ticket)) as ws:
        await subscribe(ws)
    async with connect(embedded.ws_url(ticket)) as ws:
        await closed_with(ws, 4401)
