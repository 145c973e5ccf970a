"""The circuit breaker as the runtime applies it, one test per limit: each trip halts the bot
(status, reason, event, metric) and no new order reaches the exchange afterwards."""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import REGISTRY

from autogrid.core.db import Database
from autogrid.models import BotStatus
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


async def test_price_deviation_limit(live: LiveAccount) -> None:
    before = trips("price_deviation")
    bot_id = await breaker_bot(live, max_price_deviation_pct="2")

    await tick_bot(live.ctx, bot_id)

    await assert_halted(live.db, bot_id, "from the reference")
    assert trips("price_deviation") == before + 1
    assert live.sim.create_request_counts() == {}


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
