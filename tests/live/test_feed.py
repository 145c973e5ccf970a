"""The process's feed: it runs only while streams are open, a stream that starts it misses
nothing (replayed, live, or committed by a transaction that was open when it started), and an id
hole no transaction can fill any more does not hold the stream back."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.events.types import EventType
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.live.conftest import (
    LiveServer,
    eventually,
    journal,
    journal_in,
    receive_ids,
    serve,
    subscribe,
)

T = EventType
NEVER = 3600.0  # an id hole's grace that never runs out during a test


async def test_the_feed_runs_only_while_streams_are_open_and_misses_nothing_while_idle(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    bot = (await create_bot(live.http, alice))["id"]
    assert not live.hub.feeding
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        assert live.hub.feeding
    await eventually(lambda: not live.hub.feeding)
    while_idle = await journal(db, bot, [T.FILL, T.ORDER_FILLED])
    async with await live.connect(alice) as ws:
        await subscribe(ws, last_event_id=while_idle[0] - 1)
        later = await journal(db, bot, [T.DEAL_CLOSED])
        assert await receive_ids(ws, 3) == while_idle + later


async def test_a_stream_that_starts_the_feed_gets_what_is_committed_after_subscribing(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    bot = (await create_bot(live.http, alice))["id"]
    await journal(db, bot, [T.FILL])  # before the moment of subscribing: not sent
    assert not live.hub.feeding
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        right_after = await journal(db, bot, [T.ORDER_FILLED])
        assert await receive_ids(ws, 1) == right_after


async def test_an_event_whose_transaction_was_open_when_the_feed_started_comes_in_order(
    live: LiveServer, settings: Settings, db: Database, alice: ApiUser
) -> None:
    """The feed starts where the journal ends; an event whose id lies below that end but whose
    transaction commits later must still come, before the newer ones. A second server is
    started while the transaction is open, so its feed starts then, whenever it starts."""
    bot = (await create_bot(live.http, alice))["id"]
    async with db.session_scope() as slow:
        late = await journal_in(slow, bot, [T.FILL])
        newer = await journal(db, bot, [T.ORDER_FILLED])
        async with (
            asynccontextmanager(serve)(settings, NEVER) as server,
            await server.connect(alice) as ws,
        ):
            await subscribe(ws, last_event_id=late[0] - 1)
            await eventually(lambda: server.hub.holding_back)
            await slow.commit()
            assert await receive_ids(ws, 2) == late + newer


@pytest.mark.parametrize("feed_grace", [NEVER])
async def test_a_rolled_back_id_does_not_hold_the_stream_back(
    live: LiveServer, db: Database, alice: ApiUser
) -> None:
    """The rolled-back transaction drew an id and left a hole for ever: no transaction running
    can fill it, so the events above it come at once, not after the hole's grace."""
    bot = (await create_bot(live.http, alice))["id"]
    async with await live.connect(alice) as ws:
        await subscribe(ws)
        async with db.sessionmaker() as doomed:
            await journal_in(doomed, bot, [T.FILL])
            await doomed.rollback()
        after_the_hole = await journal(db, bot, [T.ORDER_FILLED])
        assert await receive_ids(ws, 1) == after_the_hole
