"""GET /api/v1/events/stream: the same stream as Server-Sent Events, resumed by Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from autogrid.core.db import Database
from autogrid.events.types import EventType
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape
from tests.live.conftest import (
    RECEIVE_TIMEOUT_SECONDS,
    REVOCATION_CHECK_SECONDS,
    LiveServer,
    journal,
)

STREAM = "/api/v1/events/stream"
T = EventType


async def _messages(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """Each SSE message: its id, event and parsed data (comments skipped)."""
    fields: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if fields:
                yield fields
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = json.loads(value) if name == "data" else value


async def _take(messages: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
        return [await anext(messages) for _ in range(count)]


async def test_replays_from_last_event_id_then_streams_live_only_the_users_own(
    live: LiveServer, db: Database, alice: ApiUser, bob: ApiUser
) -> None:
    mine = (await create_bot(live.http, alice))["id"]
    theirs = (await create_bot(live.http, bob))["id"]
    first = await journal(db, mine, [T.FILL, T.ORDER_FILLED])
    headers = {**alice.headers, "Last-Event-ID": str(first[0])}
    async with live.http.stream("GET", f"{STREAM}?type=order_filled", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = _messages(response)
        subscribed, replayed = await _take(messages, 2)
        assert subscribed["event"] == "subscribed" and "id" not in subscribed
        assert replayed["id"] == str(first[1]) and replayed["event"] == "order_filled"
        assert replayed["data"]["id"] == first[1] and replayed["data"]["bot_id"] == mine
        await journal(db, theirs, [T.ORDER_FILLED])
        later = await journal(db, mine, [T.FILL, T.ORDER_FILLED])
        (live_one,) = await _take(messages, 1)
        assert live_one["data"]["id"] == later[1]


async def test_a_ticket_authenticates_an_event_source(live: LiveServer, alice: ApiUser) -> None:
    ticket = await live.ticket(alice)
    async with live.http.stream("GET", f"{STREAM}?ticket={ticket}") as response:
        assert response.status_code == 200
        assert (await _take(_messages(response), 1))[0]["event"] == "subscribed"
    reused = await live.http.get(f"{STREAM}?ticket={ticket}")
    assert reused.status_code == 401


@pytest.mark.parametrize("access_check_seconds", [REVOCATION_CHECK_SECONDS])
async def test_the_stream_ends_once_the_users_access_is_revoked(
    live: LiveServer, alice: ApiUser
) -> None:
    ticket = await live.ticket(alice)
    async with live.http.stream("GET", f"{STREAM}?ticket={ticket}") as response:
        messages = _messages(response)
        assert (await _take(messages, 1))[0]["event"] == "subscribed"
        revoked = await live.http.post("/api/v1/auth/logout-all", headers=alice.headers)
        assert revoked.status_code == 204
        async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
            assert [message async for message in messages] == []  # the response just ends
    again = await live.http.get(STREAM, headers=alice.headers)
    assert again.status_code == 401


async def test_bad_requests_get_the_usual_errors(
    live: LiveServer, alice: ApiUser, bob: ApiUser
) -> None:
    theirs = (await create_bot(live.http, bob))["id"]
    assert (await live.http.get(STREAM)).status_code == 401
    not_theirs = await live.http.get(f"{STREAM}?bot_id={theirs}", headers=alice.headers)
    assert_error_shape(not_theirs, 404)
    for bad_id in ("x", "null", "9223372036854775808"):  # the last: past a bigint
        bad_header = await live.http.get(STREAM, headers={**alice.headers, "Last-Event-ID": bad_id})
        assert_error_shape(bad_header, 422)
        # Refused by the documented pattern (schemathesis reads it), not only by the route.
        assert bad_header.json()["error"]["code"] == "validation_error", bad_header.text
    bad_type = await live.http.get(f"{STREAM}?type=nope", headers=alice.headers)
    assert_error_shape(bad_type, 422)
