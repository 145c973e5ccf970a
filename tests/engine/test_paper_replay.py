"""The decisive check for paper replay: a grid bot driven by the real runtime (ticks, leases,
order manager, strategy inbox) over real candles makes exactly the trades ``run_backtest`` makes
over the same candles, and ends in the same strategy state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.paper import BINANCE_SPOT_RULES
from autogrid.exchanges.types import CandleData
from autogrid.market_data.repository import load_arrays
from autogrid.models import BotStatus
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.candles import CandleArrays
from tests.exchanges.paper.helpers import (
    EXCHANGE,
    MINUTE,
    real_candles,
    replay_paper,
    store_candles,
)
from tests.support.contexts import runtime_context, tick_until_stopped
from tests.support.factories import (
    Clock,
    bot_events,
    fills_of,
    load_bot,
    make_bot,
    make_user,
    orders_of,
)

D = Decimal
CANDLES = 500
GRID: dict[str, Any] = {
    "lower_price": "104400",
    "upper_price": "106200",
    "grid_count": 8,
    "spacing": "arithmetic",
    "investment": "10000",
    "direction": "neutral",
}
MARKET = BINANCE_SPOT_RULES["BTC/USDT"]


async def starting_replay_grid(
    db: Database,
    user_id: uuid.UUID,
    candles: Sequence[CandleData],
    speed: int = 600,
    *,
    grid: dict[str, Any] | None = None,
    tick_interval_seconds: int = 5,
) -> uuid.UUID:
    """A grid paper bot (``GRID`` unless ``grid``), ``starting``, that replays ``candles``
    (stored by the caller) from the first one's close at ``speed``, on 20,000 USDT."""
    return await make_bot(
        db,
        user_id,
        status="starting",
        mode="paper",
        strategy=grid or GRID,
        investment="10000",
        paper=replay_paper(candles[0], speed),
        tick_interval_seconds=tick_interval_seconds,
    )


async def test_a_paper_replay_grid_bot_trades_exactly_like_the_backtest(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    await replay_equals_backtest(settings, db, user_id, CANDLES)


async def test_the_same_on_sqlite_the_embedded_mode(
    settings: Settings, sqlite_db: Database
) -> None:
    """``make run`` keeps everything in SQLite: claims, leases and the inbox work there too."""
    await replay_equals_backtest(settings, sqlite_db, await make_user(sqlite_db), 200)


async def replay_equals_backtest(
    settings: Settings, db: Database, user_id: uuid.UUID, count: int
) -> None:
    candles = real_candles(count)
    await store_candles(db, candles)
    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, "BTC/USDT", "1m")
    arrays = CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )
    market = MARKET
    expected = run_backtest(
        build_strategy("grid", GRID, market),
        arrays,
        BacktestSettings(market, D(20_000), maker_fee=D("0.001"), taker_fee=D("0.001")),
    )
    assert len(expected.fills) > 5

    clock = Clock()
    bot_id = await starting_replay_grid(db, user_id, candles)  # decides at each candle's close
    ctx = runtime_context(settings, db, clock, replay_steps=150)
    try:
        await tick_bot(ctx, bot_id)  # starts: opens the account at the clock's now
        clock.move((count * MINUTE / 600 + timedelta(seconds=1)).total_seconds())
        await tick_until_stopped(ctx, db, bot_id, count // 150 + 4)
    finally:
        await ctx.close()

    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.STOPPED  # the replay is over: the bot said so and stopped
    [finished] = await bot_events(db, bot_id, "replay_finished")
    assert finished.data == {"last_close": (candles[-1].ts + MINUTE).isoformat()}
    tags = {order.id: (order.intent or {})["tag"] for order in await orders_of(db, bot_id)}
    got = sorted(
        (f.ts, tags[f.order_id], f.side, f.price, f.amount, f.fee, bool(f.is_maker))
        for f in await fills_of(db, bot_id)
    )
    want = sorted(
        (f.ts, f.tag, f.side.value, f.price, f.amount, f.fee, f.is_maker) for f in expected.fills
    )
    assert got == want
    # The same state by value (the database keeps 1.5 where the backtest wrote 1.50).
    strategy = build_strategy("grid", GRID, market)
    assert strategy.load_state(bot.state["strategy"]) == strategy.load_state(
        expected.strategy_state
    )
    assert bot.state["decided_until"] <= (candles[-1].ts + MINUTE).isoformat()
