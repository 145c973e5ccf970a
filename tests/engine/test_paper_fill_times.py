"""A paper replay bot's trades are shown at the open of the candle they filled in, exactly as the
backtest's results stamp the same trades, while they settle at its close as before; and a bot
that dies after the exchange settled a candle, before recording it, still records each of that
candle's fills once, with the same times, after the restart."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.results import build_result
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine import replay
from autogrid.exchanges.paper import BINANCE_SPOT_RULES
from autogrid.exchanges.types import CandleData, ExchangeTrade
from autogrid.execution.order_manager import OrderManager
from autogrid.market_data.repository import load_arrays
from autogrid.models import BotStatus
from autogrid.models.paper import PaperTrade
from autogrid.orders.export import fills_csv
from autogrid.orders.schemas import FillRead
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.candles import CandleArrays
from tests.engine.test_paper_replay import starting_replay_grid
from tests.exchanges.paper.helpers import (
    EXCHANGE,
    MINUTE,
    real_candles,
    store_candles,
)
from tests.support.contexts import runtime_context, tick_until_stopped
from tests.support.factories import Clock, fills_of, load_bot, orders_of

D = Decimal
CANDLES = 300
SPEED = 600
STEPS = 100
# A stretch of the real candles with 1m moves of over $500 and levels about $285 apart: some
# candles fill two of them (a test below needs one that does).
FIRST = 2400
GRID: dict[str, Any] = {
    "lower_price": "106000",
    "upper_price": "110000",
    "grid_count": 14,
    "spacing": "arithmetic",
    "investment": "10000",
    "direction": "neutral",
}
MARKET = BINANCE_SPOT_RULES["BTC/USDT"]


async def start_replay_bot(
    db: Database, user_id: uuid.UUID, candles: Sequence[CandleData]
) -> uuid.UUID:
    await store_candles(db, candles)
    return await starting_replay_grid(db, user_id, candles, SPEED, grid=GRID)


def replay_over(clock: Clock) -> None:
    clock.move((CANDLES * MINUTE / SPEED + timedelta(seconds=1)).total_seconds())


async def stored_arrays(db: Database) -> CandleArrays:
    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, "BTC/USDT", "1m")
    return CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )


async def paper_trades(db: Database) -> list[PaperTrade]:
    async with db.session_scope() as session:
        return list((await session.scalars(select(PaperTrade))).all())


async def test_a_replay_bots_trades_carry_their_candles_open_as_the_backtest_stamps_them(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    candles = real_candles(FIRST + CANDLES)[FIRST:]
    bot_id = await start_replay_bot(db, user_id, candles)
    clock = Clock()
    ctx = runtime_context(settings, db, clock, replay_steps=STEPS)
    try:
        await tick_bot(ctx, bot_id)  # starts: opens the account at the clock's now
        replay_over(clock)
        await tick_until_stopped(ctx, db, bot_id, CANDLES // STEPS + 4)
    finally:
        await ctx.close()

    fills = await fills_of(db, bot_id)
    tags = {order.id: (order.intent or {})["tag"] for order in await orders_of(db, bot_id)}
    by_open = {candle.ts: candle for candle in candles}
    assert all(fill.executed_at == fill.ts - MINUTE for fill in fills)  # settled at the close
    for fill in fills:
        candle = by_open[fill.traded_at]
        if fill.is_maker:  # a limit order the candle's range reached
            assert candle.low <= fill.price <= candle.high
        else:  # the grid's opening market buy paid that very candle's open (no slippage)
            assert fill.price == candle.open
    assert not all(fill.is_maker for fill in fills)
    per_candle = Counter(fill.traded_at for fill in fills)
    assert max(per_candle.values()) >= 2  # two fills in one candle: one time, the candle's open

    # The backtest of the same candles stamps the same trades with the same times.
    arrays = await stored_arrays(db)
    backtest = BacktestSettings(MARKET, D(20_000), maker_fee=D("0.001"), taker_fee=D("0.001"))
    run = run_backtest(build_strategy("grid", GRID, MARKET), arrays, backtest)
    result = build_result(run, arrays, backtest, strategy="grid")
    got = sorted((f.traded_at, tags[f.order_id], f.side, f.price, f.amount) for f in fills)
    want = sorted((f.ts, f.tag, f.side.value, f.price, f.amount) for f in result.fill_records)
    assert got == want

    # What the trades API and its CSV show: the open; settled_at: the close.
    shown = [FillRead.model_validate(fill) for fill in fills]
    assert [(row.ts, row.settled_at) for row in shown] == [
        (fill.ts - MINUTE, fill.ts) for fill in fills
    ]
    rows = fills_csv("BTC/USDT", fills).splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == [
        (fill.ts - MINUTE).isoformat().replace("+00:00", "Z") for fill in fills
    ]


async def test_a_restart_after_the_candle_settled_records_its_fills_once_with_their_times(
    settings: Settings, db: Database, user_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    candles = real_candles(FIRST + CANDLES)[FIRST:]
    bot_id = await start_replay_bot(db, user_id, candles)
    clock = Clock()
    lost: list[ExchangeTrade] = []
    record = replay.apply_trades

    async def dies_before_recording(manager: OrderManager, found: Sequence[ExchangeTrade]) -> int:
        if found and not lost:
            lost.extend(found)  # the exchange has settled these; the bot never records them
            raise RuntimeError("the worker died")
        return await record(manager, found)

    monkeypatch.setattr(replay, "apply_trades", dies_before_recording)
    first = runtime_context(settings, db, clock, replay_steps=STEPS)
    try:
        await tick_bot(first, bot_id)
        replay_over(clock)
        with pytest.raises(RuntimeError, match="the worker died"):
            for _ in range(CANDLES // STEPS + 2):
                await tick_bot(first, bot_id)
    finally:
        await first.close()
    assert lost  # a candle's fills, settled while the bot was down

    restarted = runtime_context(settings, db, clock, replay_steps=STEPS)
    try:
        await tick_until_stopped(restarted, db, bot_id, CANDLES // STEPS + 6)
    finally:
        await restarted.close()

    assert (await load_bot(db, bot_id)).status == BotStatus.STOPPED
    fills = await fills_of(db, bot_id)
    settled = {trade.trade_id: trade for trade in await paper_trades(db)}
    # Every trade the exchange settled is recorded, each once, the lost candle's included.
    assert sorted(fill.trade_id for fill in fills) == sorted(settled)
    assert {trade.trade_id for trade in lost} <= {fill.trade_id for fill in fills}
    for fill in fills:
        trade = settled[fill.trade_id]
        assert (fill.ts, fill.executed_at) == (trade.ts, trade.executed_at)
        assert fill.executed_at == fill.ts - MINUTE
