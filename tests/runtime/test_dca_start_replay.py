"""A DCA bot with an indicator start condition in a paper replay: the runtime fetches the start
condition's candles (its timeframe, not a top-level one) and trades exactly like the backtest."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from autogrid.backtest.engine import BacktestSettings, CandleArrays, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.exchanges.paper import BINANCE_SPOT_RULES
from autogrid.market_data.repository import load_arrays
from autogrid.models import BotStatus
from autogrid.runtime.tick import tick_bot
from tests.exchanges.paper.helpers import EXCHANGE, MINUTE, real_candles, store_candles
from tests.runtime.contexts import runtime_context
from tests.runtime.factories import Clock, fills_of, load_bot, make_bot, orders_of

D = Decimal
CANDLES = 500
DCA: dict[str, Any] = {
    "base_order_volume": "1000",
    "safety_order_volume": "1000",
    "safety_order_step_percentage": "0.3",
    "take_profit": "0.2",
    "max_safety_orders": 3,
    "active_safety_orders_count": 2,
    # SMA windows come out the same from the bot's short window as from the whole series.
    "start_condition": {
        "strategy": "ma_cross",
        "fast": 5,
        "slow": 10,
        "kind": "sma",
        "timeframe": "1m",
    },
}
MARKET = BINANCE_SPOT_RULES["BTC/USDT"]


async def test_a_replayed_dca_bot_opens_its_deals_on_the_signals_like_the_backtest(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    async with db.session_scope() as session:
        stored = await load_arrays(session, EXCHANGE, "BTC/USDT", "1m")
    arrays = CandleArrays(
        stored.ts_ms, stored.open, stored.high, stored.low, stored.close, stored.volume
    )
    expected = run_backtest(
        build_strategy("dca", DCA, MARKET),
        arrays,
        BacktestSettings(MARKET, D(20_000), maker_fee=D("0.001"), taker_fee=D("0.001")),
    )
    opened = [fill for fill in expected.fills if fill.tag.endswith(".BO")]
    assert len(opened) >= 5 and opened[0].index > 10  # not at once: at the first signal

    clock = Clock()
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        mode="paper",
        bot_type="dca",
        strategy=DCA,
        investment="4000",
        paper={
            "price_source": "replay",
            "timeframe": "1m",
            "start": (candles[0].ts + MINUTE).isoformat(),
            "speed": 600,
            "balances": {"USDT": "20000"},
        },
    )
    ctx = runtime_context(settings, db, clock, replay_steps=150)
    try:
        await tick_bot(ctx, bot_id)
        clock.move((CANDLES * MINUTE / 600 + timedelta(seconds=1)).total_seconds())
        for _ in range(CANDLES // 150 + 2):
            await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()

    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.RUNNING
    tags = {order.id: (order.intent or {})["tag"] for order in await orders_of(db, bot_id)}
    got = sorted(
        (f.ts, tags[f.order_id], f.side, f.price, f.amount, f.fee, bool(f.is_maker))
        for f in await fills_of(db, bot_id)
    )
    want = sorted(
        (f.ts, f.tag, f.side.value, f.price, f.amount, f.fee, f.is_maker) for f in expected.fills
    )
    assert got == want
