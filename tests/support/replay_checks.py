"""Shared pieces of the DCA and indicator end-to-end tests: a worker stack driven through the
API, a window of real candles, and "a paper replay bot traded exactly like the backtest" (and
stopped itself, saying so, once its candles were all played)."""

from __future__ import annotations

import csv
import gzip
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.replay_end import REPLAY_FINISHED
from autogrid.exchanges.paper import BINANCE_SPOT_RULES
from autogrid.exchanges.types import CandleData
from autogrid.market_data.repository import load_arrays
from autogrid.market_data.timeframes import ms_to_datetime
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.candles import CandleArrays
from tests.engine.test_end_to_end import api
from tests.exchanges.paper.helpers import EXCHANGE, MINUTE, SYMBOL, store_candles
from tests.helpers import ApiUser
from tests.shared_data import shared_file
from tests.support.contexts import runtime_context, simulator_factory, tick_until_stopped
from tests.support.factories import Clock, bot_events, fills_of, load_bot, make_bot, orders_of
from tests.support.workers import Stack, eventually, flush_prefix, isolated_settings
from tests.worker.processes import all_running

D = Decimal
BOTS = "/api/v1/bots"
MARKET = BINANCE_SPOT_RULES[SYMBOL]  # what a paper account trades BTC/USDT with
FEE = D("0.001")  # the paper account's maker and taker fees, as the backtest's
# (time, tag, side, price, amount, fee, maker): one trade, as both sides record it
TradeKey = tuple[Any, str, str, Decimal, Decimal, Decimal, bool]


@asynccontextmanager
async def worker_stack(
    settings: Settings, app: FastAPI, tmp_path: Path, sim_url: str | None = None
) -> AsyncIterator[Stack]:
    """A worker and a beat on this test's own queues; the app sends them its commands (and,
    with a simulator, verifies API keys against it)."""
    stack = Stack(isolated_settings(settings, tmp_path), tmp_path, sim_url)
    app.state.bot_dispatcher = CeleryBotDispatcher(stack.app)
    if sim_url is not None:
        app.state.connector_factory = simulator_factory(sim_url)
    try:
        with all_running(stack.worker("worker"), stack.beat()):
            yield stack
    finally:
        stack.close()
        flush_prefix(stack.settings)


def candle_window(
    skip: int, count: int, name: str = "binance_BTC_USDT-1m.csv.gz"
) -> list[CandleData]:
    """``count`` real candles after the first ``skip`` rows of a shared file, decimals exact."""
    with gzip.open(shared_file(name), "rt", newline="") as handle:
        rows = list(islice(csv.reader(handle), 1 + skip, 1 + skip + count))
    assert len(rows) == count, f"{name} has fewer than {skip + count} candles"
    return [
        CandleData(ms_to_datetime(int(ts)), D(o), D(h), D(low), D(c), D(v))
        for ts, o, h, low, c, v in rows
    ]


async def stored_arrays(db: Database, candles: list[CandleData]) -> CandleArrays:
    """Store the candles, and read them back as the backtest reads them."""
    await store_candles(db, candles)
    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, SYMBOL, "1m")
    assert len(stored.ts_ms) == len(candles)
    return CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )


def backtest_trades(
    bot_type: str, config: dict[str, Any], arrays: CandleArrays, quote: Decimal
) -> tuple[list[TradeKey], dict[str, Any]]:
    """The backtest's trades of this config over these candles, and its final strategy state."""
    run = run_backtest(
        build_strategy(bot_type, config, MARKET),
        arrays,
        BacktestSettings(MARKET, quote, maker_fee=FEE, taker_fee=FEE),
    )
    trades = sorted(
        (f.ts, f.tag, f.side.value, f.price, f.amount, f.fee, f.is_maker) for f in run.fills
    )
    return trades, run.strategy_state


async def bot_trades(db: Database, bot_id: uuid.UUID) -> list[TradeKey]:
    """The bot's recorded trades, each with its order's strategy tag."""
    tags = {order.id: (order.intent or {})["tag"] for order in await orders_of(db, bot_id)}
    return sorted(
        (f.ts, tags[f.order_id], f.side, f.price, f.amount, f.fee, bool(f.is_maker))
        for f in await fills_of(db, bot_id)
    )


async def create_replay_bot(
    client: httpx.AsyncClient,
    user: ApiUser,
    bot_type: str,
    config: dict[str, Any],
    candles: list[CandleData],
    quote: Decimal,
    *,
    name: str,
    speed: int = 100_000,
) -> str:
    """A paper replay bot whose first decision is at the first candle's close, as a backtest's."""
    body = {
        "name": name,
        "type": bot_type,
        "exchange": EXCHANGE,
        "symbol": SYMBOL,
        "mode": "paper",
        "tick_interval_seconds": 1,
        "paper": {
            "price_source": "replay",
            "timeframe": "1m",
            "start": (candles[0].ts + MINUTE).isoformat(),
            "speed": speed,
            "balances": {"USDT": str(quote)},
        },
        "config": config,
    }
    bot = await api(client, user, "POST", BOTS, body)
    return str(bot["id"])


async def replay_finished(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    bot_id: str,
    candles: list[CandleData],
    stack: Stack,
    timeout: float = 90,
) -> None:
    """Wait until the bot has played its last candle and stopped itself (its resting orders are
    cancelled, nothing fills, nothing is decided), saying so in a ``replay_finished`` event."""
    last_close = candles[-1].ts + MINUTE

    async def stopped() -> bool:
        bot = await load_bot(db, uuid.UUID(bot_id))
        assert bot.status != "error", f"the bot failed: {bot.error}"
        return bot.status == "stopped"

    await eventually(stopped, stack, timeout=timeout)
    [finished] = await bot_events(db, uuid.UUID(bot_id), REPLAY_FINISHED)
    assert finished.data == {"last_close": last_close.isoformat()}
    current = await api(client, user, "GET", f"{BOTS}/{bot_id}")
    assert current["status"] == "stopped"


async def replay_in_process(
    settings: Settings,
    db: Database,
    user_id: uuid.UUID,
    bot_type: str,
    config: dict[str, Any],
    candles: list[CandleData],
    quote: Decimal,
    *,
    steps: int = 200,
) -> uuid.UUID:
    """A paper replay bot over the (stored) candles, ticked in this process to the last one:
    the first decision at the first candle's close, as a backtest's."""
    clock = Clock()
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        mode="paper",
        bot_type=bot_type,
        strategy=config,
        investment=None,
        paper={
            "price_source": "replay",
            "timeframe": "1m",
            "start": (candles[0].ts + MINUTE).isoformat(),
            "speed": 600,
            "balances": {"USDT": str(quote)},
        },
    )
    ctx = runtime_context(settings, db, clock, replay_steps=steps)
    try:
        await tick_bot(ctx, bot_id)
        clock.move((len(candles) * MINUTE / 600 + timedelta(seconds=1)).total_seconds())
        await tick_until_stopped(ctx, db, bot_id, len(candles) // steps + 4)
    finally:
        await ctx.close()
    return bot_id
