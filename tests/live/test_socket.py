"""GET /api/v1/ws against a real server: only the user's events, replayed from an id then live,
in id order, each once; tickets, origins, filters and limits enforced with their close codes."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.live import service
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.live.conftest import (
    RECEIVE_TIMEOUT_SECONDS,
    LiveServer,
    eventually,
    journal,
    journal_in,
    receive,
    receive_ids,
    subscribe,
)

T = EventType


async def closed_with(ws: object, code: int) -> str:
    """Wait for the server to close the connection; its reason."""
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(RECEIVE_TIMEOUT_SECONDS):
            while True:
                await ws.recv()  # type: ignore[attr-defined]
    assert closed.value.rcvd is not None, "closed without a close frame"
    assert closed.value.rcvd.code == code, closed.value.rcvd
    return closed.value.rcvd.reason


async def test_replay_then_live_in_id_order_only_the_users_own(
    live: LiveServer, db: Database, alice: ApiUser, bob: ApiUser
) -> None:
    mine = (await create_bot(live.http, alice))["id"]
    theirs = (await create_bot(live.http, bob))["id"]
    before = await journal(db, mine, [T.ORDER_PLACED, T.FILL])
    await journal(db, theirs, [T.FILL])

    async with await live.connect(alice) as ws:
        await subscribe(ws, last_event_id=0)
        replayed = [await receive(ws) for _ in range(3)]
        assert [e["type"] for e in replayed] == ["created", "order_placed", "fill"]
        assert [e["id"] for e in replayed][1:] == before
        assert replayed[2]["bot_id"] == mine and replayed[2]["data"] == {"n": 1}

        await journal(db, theirs, [T.ORDER_FILLED])
        later = await journal(db, mine, [T.ORDER_FILLED, T.DEAL_CLOSED])
        assert await receive_ids(ws, 2) == later


async def test_without_last_event_id_only_live_events_come(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    bot = (await create_bot(live.http, alice))["id"]
    await journal(db, bot, [T.FILL])
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        new = await journal(db, bot, [T.ORDER_FILLED])
        assert await receive_ids(ws, 1) == new


async def test_filters_by_bot_and_type(live: LiveServer, db: Database, alice: ApiUser) -> None:
    first = (await create_bot(live.http, alice))["id"]
    second = (await create_bot(live.http, alice))["id"]
    async with await live.connect(alice) as ws:
        await subscribe(ws, bot_ids=[second], types=["fill", "deal_closed"])
        await journal(db, first, [T.FILL, T.DEAL_CLOSED])
        wanted = await journal(db, second, [T.ORDER_PLACED, T.FILL, T.ORDER_FILLED, T.DEAL_CLOSED])
        got = [await receive(ws) for _ in range(2)]
        assert [e["id"] for e in got] == [wanted[1], wanted[3]]
        assert {e["bot_id"] for e in got} == {second}


async def test_resume_after_a_disconnect_has_no_gap_and_no_duplicate(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    bot = (await create_bot(live.http, alice))["id"]
    written: list[int] = []

    async def burst() -> None:
        for _ in range(60):
            written.extend(await journal(db, bot, [T.FILL, T.ORDER_PARTIALLY_FILLED]))

    seen: list[int] = []
    burst_types = ["fill", "order_partially_filled"]
    async with await live.connect(alice) as ws:
        await subscribe(ws, types=burst_types)
        writer = asyncio.create_task(burst())
        seen += await receive_ids(ws, 25)
    # Disconnected in the middle of the burst; the writer goes on.
    async with await live.connect(alice) as ws:
        await subscribe(ws, types=burst_types, last_event_id=seen[-1])
        await writer
        seen += await receive_ids(ws, len(written) - len(seen))
    assert seen == written  # every one, once, in id order


async def test_a_ticket_works_once_and_bad_ones_close_4401(
    live: LiveServer, alice: ApiUser
) -> None:
    ticket = await live.ticket(alice)
    async with connect(live.ws_url(ticket)) as ws:
        await subscribe(ws)
    for bad in (ticket, "made-up", ""):
        async with connect(live.ws_url(bad)) as ws:
            await closed_with(ws, 4401)
    unauthenticated = await live.http.post("/api/v1/ws/ticket")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["code"] == "unauthorized"


async def test_a_foreign_origin_closes_4403(live: LiveServer, alice: ApiUser) -> None:
    ticket = await live.ticket(alice)
    async with connect(live.ws_url(ticket), origin="https://evil.example") as ws:  # type: ignore[arg-type]
        await closed_with(ws, 4403)
    # The API's own origin is fine; the refused attempt did not use up a ticket.
    async with connect(live.ws_url(ticket), origin=live.base_url) as ws:  # type: ignore[arg-type]
        await subscribe(ws)


async def test_bad_subscriptions_close_with_their_code(
    live: LiveServer, alice: ApiUser, bob: ApiUser
) -> None:
    theirs = (await create_bot(live.http, bob))["id"]
    cases = [
        ({"action": "subscribe", "bot_ids": [theirs]}, 4404),
        ({"action": "subscribe", "types": ["no_such_type"]}, 4400),
        ({"action": "subscribe", "last_event_id": -1}, 4400),
        ({"action": "subscribe", "user_id": str(alice.id)}, 4400),
        ({"action": "listen"}, 4400),
    ]
    for message, code in cases:
        async with await live.connect(alice) as ws:
            await ws.send(json.dumps(message))
            await closed_with(ws, code)


async def test_message_size_and_rate_are_limited(live: LiveServer, alice: ApiUser) -> None:
    async with await live.connect(alice) as ws:
        await ws.send(json.dumps({"action": "subscribe", "padding": "x" * 5000}))
        await closed_with(ws, 1009)
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        await ws.send("{}")
        answer = await receive(ws)
        assert answer["type"] == "error" and "already subscribed" in answer["data"]["message"]
        for _ in range(30):
            await ws.send("{}")
        assert "too many" in await closed_with(ws, 1008)


async def test_too_far_behind_gets_resync_required(
    live: LiveServer, db: Database, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "MAX_REPLAY_EVENTS", 3)
    monkeypatch.setattr(service, "REPLAY_PAGE", 2)
    bot = (await create_bot(live.http, alice))["id"]
    await journal(db, bot, [T.FILL] * 5)
    async with await live.connect(alice) as ws:
        await subscribe(ws, last_event_id=0)
        messages = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                messages.append(await receive(ws))
        assert [m["type"] for m in messages][-1] == "resync_required"
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409


async def test_server_shutdown_closes_streams_cleanly(live: LiveServer, alice: ApiUser) -> None:
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        await live.hub.stop()
        await closed_with(ws, 1001)


@pytest.mark.parametrize("feed_grace", [3600.0])
async def test_an_event_committed_after_a_newer_one_still_comes_first(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    """PostgreSQL draws ids at insert: id k+1 can commit while k's transaction is still open.
    The stream holds k+1 back until k commits, so it stays in id order and a client resuming
    after k+1 would miss nothing."""
    bot = (await create_bot(live.http, alice))["id"]
    async with await live.connect(alice) as ws:
        await subscribe(ws, types=["fill", "order_filled"])
        async with db.session_scope() as slow:
            first = await journal_in(slow, bot, [T.FILL])
            second = await journal(db, bot, [T.ORDER_FILLED])
            await eventually(lambda: live.hub.holding_back)
        assert await receive_ids(ws, 2) == first + second
