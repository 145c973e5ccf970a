"""Indicator bots end to end: created and started through the API, run by a real Celery worker
and beat in paper replay over real candles, they make exactly the trades of the backtest of the
same config over the same candles, and end in the same strategy state."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.engine.test_end_to_end import api
from tests.helpers import ApiUser
from tests.support.factories import bot_events, load_bot
from tests.support.replay_checks import (
    BOTS,
    MARKET,
    backtest_trades,
    bot_trades,
    candle_window,
    create_replay_bot,
    replay_finished,
    stored_arrays,
    worker_stack,
)
from tests.support.workers import Stack

pytestmark = pytest.mark.slow

D = Decimal
QUOTE = D(10_000)
# The first 300 real one-minute candles (2025-05-20 00:00 to 04:59 UTC). Indicator bots decide
# at every candle in a replay, so the window is short and the indicators fast: RSI(7) crossing
# 30/70 makes 5 round trips, MACD(6, 13, 5) 22. (A running bot computes its indicators over its
# last candles_needed() candles, the backtest over the whole series: RSI and EMAs then differ in
# their last digits, and a crossing that close to its level would trade differently. None of
# this window's is.)
CANDLES = 300
INDICATORS: dict[str, dict[str, Any]] = {
    "rsi": {
        "strategy": "rsi",
        "timeframe": "1m",
        "period": 7,
        "buy_below": 30,
        "sell_above": 70,
        "order_quote": "1000",
    },
    # Half of the free quote per entry: the paper account's balance after each round trip
    # (fees in USDT) must be the backtest's to the last digit for the amounts to agree.
    "macd": {
        "strategy": "macd",
        "timeframe": "1m",
        "fast": 6,
        "slow": 13,
        "signal": 5,
        "order_pct": "50",
    },
}
ROUND_TRIPS = {"rsi": 5, "macd": 22}


@pytest.fixture
async def replay_stack(settings: Settings, app: FastAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path) as stack:
        yield stack


async def test_indicator_bots_trade_in_paper_replay_exactly_like_the_backtest(
    replay_stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    candles = candle_window(0, CANDLES)
    arrays = await stored_arrays(db, candles)
    bots: dict[str, str] = {}
    for name, config in INDICATORS.items():
        bots[name] = await create_replay_bot(
            client, user, "indicator", config, candles, QUOTE, name=f"replay {name}"
        )
        await api(client, user, "POST", f"{BOTS}/{bots[name]}/start")

    for name, config in INDICATORS.items():
        want, want_state = backtest_trades("indicator", config, arrays, QUOTE)
        await replay_finished(client, user, db, bots[name], candles, replay_stack, timeout=150)
        got = await bot_trades(db, uuid.UUID(bots[name]))
        assert got == want, name
        # Entries are market buys tagged E<n>, exits market sells tagged X<n>, in turn.
        tags = [trade[1] for trade in got]
        trips = ROUND_TRIPS[name]
        assert tags == [tag for n in range(1, trips + 1) for tag in (f"E{n}", f"X{n}")], name
        strategy = build_strategy("indicator", config, MARKET)
        bot = await load_bot(db, uuid.UUID(bots[name]))
        state = strategy.load_state(bot.state["strategy"])
        assert state == strategy.load_state(want_state), name
        assert state.round_trips == trips
        # The replay starts at the first stored candle: the indicators wait for their warm-up.
        [waiting] = await bot_events(db, uuid.UUID(bots[name]), "waiting_for_data")
        assert waiting.data is not None
        assert waiting.data["candles_needed"] == strategy.candles_needed()
        assert waiting.data["candles_available"] < strategy.candles_needed(), name

    # The stats agree with the trades: everything received minus everything paid.
    for name, bot_id in bots.items():
        stats = await api(client, user, "GET", f"{BOTS}/{bot_id}/stats")
        trades = await bot_trades(db, uuid.UUID(bot_id))
        paid = sum(
            (price * amount + fee for _, _, side, price, amount, fee, _ in trades if side == "buy"),
            D(0),
        )
        got_back = sum(
            (
                price * amount - fee
                for _, _, side, price, amount, fee, _ in trades
                if side == "sell"
            ),
            D(0),
        )
        assert stats["trades"] == len(trades) == 2 * ROUND_TRIPS[name]
        assert D(stats["position"]) == 0
        assert D(stats["realized_pnl"]).quantize(D("0.01")) == (got_back - paid).quantize(D("0.01"))
