"""The circuit breaker as the runtime applies it, one test per limit: each trip halts the bot
(status, reason, event, metric) and no new order reaches the exchange afterwards."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from autogrid.core.db import Database
from autogrid.models import BotStatus
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import OrderStatus
from tests.support.factories import SYMBOL, LiveAccount, bot_events, load_bot, orders_of


def trips(code: str) -> float:
    return REGISTRY.get_sample_value("autogrid_breaker_trips_total", {"reason": code}) or 0.0


async def breaker_bot(live: LiveAccount, **breaker: Any) -> uuid.UUID:
    return await live.bot(status="starting", breaker=breaker)


async def assert_halted(db: Database, bot_id: uuid.UUID, words: str) -> None:
    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.HALTED
    assert bot.breaker_reason is not None and words in bot.breaker_reason
    assert bot.breaker_tripped_at is not None
    events = await bot_events(db, bot_id, "breaker_tripped")
    assert [e.message for e in events] == [bot.breaker_reason]


async def test_order_rate_limit(live: LiveAccount) -> None:
    before = trips("order_rate")
    bot_id = await breaker_bot(live, max_orders_per_minute=3)

    await tick_bot(live.ctx, bot_id)

    await assert_halted(live.db, bot_id, "order rate")
    assert trips("order_rate") == before + 1
    # Five buys wanted: three passed the check, the fourth tripped; the trip denies them all.
    assert [o.status for o in await orders_of(live.db, bot_id)] == [OrderStatus.DENIED] * 5
    assert live.sim.create_request_counts() == {}


# A smart trade whose limit entry is a fat finger: 10% above the market it buys in.
FAT_FINGER_ENTRY: dict[str, Any] = {
    "amount": {"value": "1000", "unit": "quote"},
    "entry": {"type": "limit", "price": "110000"},
    "take_profits": [
        {"price": "120000", "share_percent": "50"},
        {"price": "121000", "share_percent": "50"},
    ],
}
# Deep safety orders (down to 12.1% below the base price) and a 15% take profit: orders that rest
# far from the market on their own side, as their owner asked.
DEEP_DCA: dict[str, Any] = {
    "base_order_volume": "200",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "5",
    "martingale_step_coefficient": "1.42",
    "max_safety_orders": 2,
    "active_safety_orders_count": 2,
    "take_profit": "15",
}


async def test_price_deviation_limit(live: LiveAccount) -> None:
    live.sim.set_price(SYMBOL, "100000")
    before = trips("price_deviation")
    bot_id = await live.bot(
        status="starting",
        bot_type="smart_trade",
        strategy=FAT_FINGER_ENTRY,
        investment="1000",
        breaker={"max_price_deviation_pct": "2"},
    )

    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)

    await assert_halted(live.db, bot_id, "buy price 110000.00 is 10.00% above the reference")
    assert trips("price_deviation") == before + 1
    assert live.sim.create_request_counts() == {}


async def test_orders_resting_far_from_the_market_on_their_own_side_trip_nothing(
    live: LiveAccount,
) -> None:
    # A deviation limit of 2%: the grid's buys rest up to 5% below the price, the DCA's safety
    # orders 12.1% below and its take profit 15% above. Tripping on them halted such bots at once.
    live.sim.set_price(SYMBOL, "100000")
    grid = await breaker_bot(live, max_price_deviation_pct="2")
    dca = await live.bot(
        status="starting",
        bot_type="dca",
        strategy=DEEP_DCA,
        investment=None,
        breaker={"max_price_deviation_pct": "2"},
    )
    for _ in range(2):
        await tick_bot(live.ctx, grid)
        await tick_bot(live.ctx, dca)

    for bot_id in (grid, dca):
        bot = await load_bot(live.db, bot_id)
        assert bot.status == BotStatus.RUNNING and bot.breaker_reason is None, bot.breaker_reason
    assert {o.status for o in await orders_of(live.db, grid)} == {OrderStatus.OPEN}
    assert {tag_of(o): o.status for o in await orders_of(live.db, dca)} == {
        "D1.BO": OrderStatus.FILLED,
        "D1.SO1": OrderStatus.OPEN,
        "D1.SO2": OrderStatus.OPEN,
        "D1.TP1": OrderStatus.OPEN,
    }
    resting = sorted(o.price for o in live.sim.orders(status="NEW"))
    assert resting[0] < Decimal("88000") and resting[-1] > Decimal("114000")


async def test_loss_limit(live: LiveAccount) -> None:
    before = trips("loss_limit")
    # 1% of the 5000 invested: the five filled buys below lose more once the price drops.
    bot_id = await breaker_bot(live, max_loss_pct_per_hour="1")
    await tick_bot(live.ctx, bot_id)
    assert (await load_bot(live.db, bot_id)).status == BotStatus.RUNNING

    live.sim.set_price(SYMBOL, "94000")
    await tick_bot(live.ctx, bot_id)

    await assert_halted(live.db, bot_id, "within an hour")
    assert trips("loss_limit") == before + 1
    sells = [o for o in live.sim.orders() if o.side == "SELL"]
    assert sells == []  # the counter-orders of the fills were denied, never sent
    assert sum(live.sim.create_request_counts().values()) == 5


async def test_consecutive_exchange_errors(live: LiveAccount) -> None:
    before = trips("consecutive_errors")
    bot_id = await breaker_bot(live, max_consecutive_errors=3)
    await tick_bot(live.ctx, bot_id)
    live.sim.inject_fault("http_error", "*", times=None, status=503)

    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    await assert_halted(live.db, bot_id, "consecutive exchange errors")
    assert trips("consecutive_errors") == before + 1
    live.sim.clear_faults()
    await tick_bot(live.ctx, bot_id)  # halted: it keeps its books, places nothing new
    assert (await load_bot(live.db, bot_id)).status == BotStatus.HALTED
    assert sum(live.sim.create_request_counts().values()) == 5
