"""Through the API and a real worker: a paper replay bot stopped with ``sell_base`` sells what it
holds at market and ends ``stopped``, as a live one does; a replay that has played its candles
stops itself and says so."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.engine.test_end_to_end import api, orders
from tests.engine.test_paper_replay import GRID
from tests.exchanges.paper.helpers import store_candles
from tests.helpers import ApiUser, assert_error_shape
from tests.support.factories import bot_events
from tests.support.replay_checks import (
    BOTS,
    candle_window,
    create_replay_bot,
    replay_finished,
    worker_stack,
)
from tests.support.workers import Stack, eventually

pytestmark = pytest.mark.slow

D = Decimal


@pytest.fixture
async def replay_stack(settings: Settings, app: FastAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path) as stack:
        yield stack


async def test_a_paper_stop_with_sell_base_sells_at_market_and_stops(
    replay_stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(0, 600)
    await store_candles(db, candles)
    # One candle a second: the grid's opening buy fills at the second candle, and the replay
    # lasts ten minutes, far longer than the test.
    bot_id = await create_replay_bot(
        client, user, "grid", GRID, candles, D(20_000), name="paper stop", speed=60
    )
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")

    async def holding() -> Decimal:
        stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
        return D(stats["position"])

    held = await eventually(holding, replay_stack)
    assert held > 0
    stop = {"cancel_orders": True, "sell_base": True}
    await api(client, user, "POST", f"{BOTS}/{bot_id}/stop", stop)

    async def stopped() -> bool:
        current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
        return bool(current["status"] == "stopped")

    await eventually(stopped, replay_stack)
    rows = await orders(client, user, bot_id)
    market_sells = [o for o in rows if o["type"] == "market" and o["side"] == "sell"]
    assert [o["status"] for o in market_sells] == ["filled"]
    assert {o["status"] for o in rows} <= {"filled", "canceled"}
    stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
    assert D(stats["position"]) == 0  # every step of the position sold
    kinds = [event.type for event in await bot_events(db, uuid.UUID(bot_id))]
    assert "stop_sell_skipped" not in kinds
    assert "stopped" in kinds


async def test_a_replay_over_a_short_range_stops_itself_and_says_so(
    replay_stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(0, 40)
    await store_candles(db, candles)
    bot_id = await create_replay_bot(
        client, user, "grid", GRID, candles, D(20_000), name="short replay", speed=1200
    )
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")

    await replay_finished(client, user, db, bot_id, candles, replay_stack)

    rows = await orders(client, user, bot_id)
    assert rows and {o["status"] for o in rows} <= {"filled", "canceled"}
    events = (await api(client, user, "GET", f"{BOTS}/{bot_id}/events?limit=100"))["items"]
    finished = [e for e in events if e["kind"] == "replay_finished"]
    assert len(finished) == 1 and "played every stored candle" in finished[0]["message"]
    # Started again, it has nothing left to play: refused, saying so.
    again = await client.post(f"{BOTS}/{bot_id}/start", headers=user.headers)
    assert_error_shape(again, 422, "candles_missing")
    assert "the replay has played every stored candle" in again.json()["error"]["message"]
