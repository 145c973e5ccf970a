"""Through the API and a real worker, signals that trade: a DCA paper replay bot's deals are
closed and opened by ``close_deal`` and ``start_deal`` posted to its source, each carried out by
the bot's own step in the worker; and a buy posted to a source with a smart-trade template opens
a paper replay smart trade that the worker runs, its entry bought and its exits set."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.signals.dispatch import CelerySignalDispatcher
from tests.engine.test_end_to_end import api
from tests.exchanges.paper.helpers import MINUTE, store_candles
from tests.helpers import ApiUser
from tests.signals.conftest import SIGNALS, events_of, make_source, post_signal
from tests.signals.test_end_to_end import status_is
from tests.smart_trades.test_api import TRADES
from tests.support.replay_checks import BOTS, candle_window, create_replay_bot, worker_stack
from tests.support.workers import Stack, eventually

pytestmark = pytest.mark.slow

DCA: dict[str, Any] = {
    "base_order_volume": "100",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "1",
    "max_safety_orders": 2,
    "active_safety_orders_count": 2,
    # Never reached over the window: only signals close a deal. Farther above the market than the
    # breaker's price deviation limit (10%), which once halted the bot at its first take profit.
    "take_profit": "15",
    "cooldown_seconds": 86_400,  # nor does a deal open by itself after one closed
}
THREE_COMMAS = {
    "message_type": "bot",
    "bot_id": 1,
    "email_token": "t",
    "pair": "USDT_BTC",
}  # start_deal
CLOSE_DEAL = {**THREE_COMMAS, "action": "close_at_market_price"}
# The window's prices stay between 105554 and 106790: the trade's exits rest, neither is hit.
BUY = {"action": "buy", "stop_loss": 104000, "take_profit": [108000]}
WAIT = 120.0  # a loaded 2-core machine


@pytest.fixture
async def stack(settings: Settings, app: FastAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path) as running:
        app.state.signal_dispatcher = CelerySignalDispatcher(lambda: running.app)
        yield running


async def carried_out(
    client: httpx.AsyncClient, user: ApiUser, stack: Stack, token: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Post the signal; the signal once the worker has carried it out (or refused it)."""
    answer = await post_signal(client, token, body)
    assert answer.status_code == 202 and answer.json()["outcome"] == "accepted", answer.text

    async def settled() -> dict[str, Any] | None:
        signal: dict[str, Any] = await api(client, user, "GET", f"{SIGNALS}/{answer.json()['id']}")
        return signal if signal["outcome"] not in ("accepted", "queued") else None

    found: dict[str, Any] = await eventually(settled, stack, timeout=WAIT)
    return found


async def deals(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await api(client, user, "GET", f"{BOTS}/{bot_id}/deals"))[
        "items"
    ]
    return sorted(items, key=lambda deal: deal["number"])


async def deal_is(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, number: int, bought: bool, closed: bool
) -> dict[str, Any] | None:
    """Deal ``number`` once its base order has filled (``bought``) and it is (not) closed."""
    found = [deal for deal in await deals(client, user, bot_id) if deal["number"] == number]
    if not found:
        return None
    deal = found[0]
    filled = deal["base_price"] is not None
    return deal if filled == bought and (deal["closed_at"] is not None) == closed else None


async def why_not_running(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, signal: dict[str, Any]
) -> str:
    """The signal, the bot and its journal: what a failed run needs to be explained."""
    bot = await api(client, user, "GET", f"{BOTS}/{bot_id}")
    journal = await client.get("/api/v1/events", params={"limit": 200}, headers=user.headers)
    return f"signal {signal}\nbot {bot}\nevents {journal.text}"


async def test_deal_signals_close_and_open_a_dca_bots_deals_in_the_worker(
    stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(0, 600)
    await store_candles(db, candles)
    bot_id = await create_replay_bot(
        client, user, "dca", DCA, candles, Decimal(10_000), name="deals", speed=60
    )
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")
    await eventually(lambda: deal_is(client, user, bot_id, 1, True, False), stack, timeout=WAIT)
    source = await make_source(client, user, [bot_id])

    closed = await carried_out(client, user, stack, source["token"], CLOSE_DEAL)
    assert closed["outcome"] == "executed", closed
    first = await eventually(lambda: deal_is(client, user, bot_id, 1, True, True), stack)
    assert first["close_reason"] == "signal"

    started = await carried_out(client, user, stack, source["token"], THREE_COMMAS)
    assert started["outcome"] == "executed", started
    second = await eventually(lambda: deal_is(client, user, bot_id, 2, True, False), stack)
    assert [o["status"] for o in second["orders"] if o["tag"] == "D2.BO"] == ["filled"]

    # A second close_deal, distinct from the first (a repeat would be refused as a duplicate).
    again = await carried_out(
        client, user, stack, source["token"], {**CLOSE_DEAL, "email_token": "u"}
    )
    assert again["outcome"] == "executed", await why_not_running(client, user, bot_id, again)
    last = await eventually(lambda: deal_is(client, user, bot_id, 2, True, True), stack)
    assert last["close_reason"] == "signal"
    assert await status_is(client, user, bot_id, "running")

    done = await events_of(client, user, "signal_executed")
    assert [(e["bot_id"], e["data"]["action"]) for e in done] == [
        (bot_id, "close_deal"),
        (bot_id, "start_deal"),
        (bot_id, "close_deal"),
    ]


async def test_a_buy_signal_opens_a_replay_smart_trade_the_worker_runs(
    stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(0, 120)
    await store_candles(db, candles)
    template = {
        "mode": "paper",
        "paper": {
            "price_source": "replay",
            "timeframe": "1m",
            "start": (candles[0].ts + MINUTE).isoformat(),
            "speed": 60,
            "balances": {"USDT": "10000"},
        },
        "symbol": "BTC/USDT",
        "amount": {"value": "1000", "unit": "quote"},
    }
    source = await make_source(client, user, [], smart_trade=template)

    signal = await carried_out(client, user, stack, source["token"], BUY)
    assert signal["outcome"] == "executed", signal
    [result] = signal["results"]
    trade_id = result["smart_trade_id"]
    assert uuid.UUID(trade_id) and result["bot_id"] == trade_id

    async def exits_resting() -> dict[str, Any] | None:
        """The trade once it holds what it bought and its take-profit rests on the book (the
        phase turns ``open`` in the step that sends the exit, before the order is placed)."""
        trade: dict[str, Any] = await api(client, user, "GET", f"{TRADES}/{trade_id}")
        assert trade["status"] != "error", trade["error"]
        resting = [o for o in trade["orders"] if o["side"] == "sell" and o["status"] == "open"]
        return trade if trade["phase"] == "open" and resting else None

    trade = await eventually(exits_resting, stack, timeout=WAIT)
    assert Decimal(trade["bought"]) > 0 and Decimal(trade["stop"]) == Decimal(104000)
    assert [(o["side"], o["status"]) for o in trade["orders"]] == [
        ("buy", "filled"),
        ("sell", "open"),
    ]
    assert Decimal(trade["orders"][1]["price"]) == Decimal(108000)
