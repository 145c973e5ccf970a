"""Live streams spend one unit of a budget when they connect, over a real server and WebSocket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.live import runtime
from tests.helpers import register_user, unique_email
from tests.live.conftest import LiveServer, serve, subscribe

STREAM = "/api/v1/events/stream"
ME = "/api/v1/auth/me"


@pytest.fixture
async def live(settings: Settings, db: Database) -> AsyncIterator[LiveServer]:
    limited = settings.model_copy(
        update={"rate_limit_api_default": "3/minute", "rate_limit_api_anonymous": "3/minute"}
    )
    async for server in serve(limited, runtime.GAP_GRACE_SECONDS):
        yield server


async def test_a_websocket_counts_once_when_it_connects_and_is_refused_with_429(
    live: LiveServer,
) -> None:
    # Registering and logging in spend two of the address's three anonymous requests.
    alice = await register_user(live.http, unique_email("alice"))
    async with await live.connect(alice) as ws:
        await subscribe(ws)
    # A ticket is the user's request; the connect that redeems it is the address's fourth.
    ticket = await live.ticket(alice)
    with pytest.raises(InvalidStatus) as refused:
        await connect(live.ws_url(ticket))
    response = refused.value.response
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert json.loads(response.body or b"{}")["error"]["code"] == "rate_limited"


async def test_an_event_stream_counts_once_however_long_it_stays_open(live: LiveServer) -> None:
    bob = await register_user(live.http, unique_email("bob"))
    async with live.http.stream("GET", STREAM, headers=bob.headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["RateLimit-Remaining"] == "2"
        lines = stream.aiter_lines()
        assert (await anext(lines)).startswith("event: subscribed")
        assert (await live.http.get(ME, headers=bob.headers)).headers["RateLimit-Remaining"] == "1"
