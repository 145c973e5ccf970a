"""A smart trade run by the engine, ticked in process: on paper (live prices from the exchange
simulator) through its entry, its first take-profit and the stop moved to break-even; live
against the simulator; across a restart of the worker mid-trade; and a close the exchange keeps
rejecting."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.models import BotStatus
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.paper.helpers import MINUTE, minute_candles, store_candles
from tests.support.contexts import runtime_context
from tests.support.factories import SYMBOL, Clock, LiveAccount, load_bot, make_bot, orders_of

D = Decimal
PAPER = {"price_source": "live", "timeframe": "1m", "balances": {"USDT": "10000"}}
TRADE: dict[str, Any] = {
    "amount": {"value": "1000", "unit": "quote"},
    "entry": {"type": "market"},
    "take_profits": [
        {"price": "101000", "share_percent": "50"},
        {"price": "103000", "share_percent": "50"},
    ],
    "stop_loss": {"price": "98000", "move_to_break_even_after_first_tp": True},
}


async def statuses(db: Database, bot_id: uuid.UUID) -> dict[str, str]:
    return {tag_of(o) or "": o.status for o in await orders_of(db, bot_id)}


async def closes_of(db: Database, bot_id: uuid.UUID) -> dict[str, str]:
    """The trade's market sells closing it, by tag."""
    return {tag: status for tag, status in (await statuses(db, bot_id)).items() if tag[0] == "X"}


async def tick_until(ctx: RuntimeContext, db: Database, bot_id: uuid.UUID, done: Any) -> None:
    """Tick until ``done(bot)`` holds (a bounded number of ticks: each moves the trade on)."""
    for _ in range(12):
        await tick_bot(ctx, bot_id)
        if done(await load_bot(db, bot_id)):
            return
    bot = await load_bot(db, bot_id)
    raise AssertionError(f"never reached: status {bot.status}, state {bot.state.get('strategy')}")


def strategy_state(bot: Any) -> dict[str, Any]:
    state: dict[str, Any] = bot.state["strategy"]
    return state


async def run_to_break_even(
    ctx: RuntimeContext, db: Database, sim: BinanceSimulator, bot_id: uuid.UUID
) -> None:
    sim.set_price(SYMBOL, "100000")
    await tick_until(ctx, db, bot_id, lambda bot: strategy_state(bot).get("targets"))
    sim.set_price(SYMBOL, "101500")  # TP1 fills
    await tick_until(ctx, db, bot_id, lambda bot: strategy_state(bot)["stop_moved"])
    sim.set_price(SYMBOL, "100000")  # below the break-even stop (the entry price, fees in)
    await tick_until(ctx, db, bot_id, lambda bot: bot.status == BotStatus.STOPPED)


def flat(price: str, count: int) -> list[tuple[str, str, str, str]]:
    return [(price, price, price, price)] * count


async def test_a_paper_smart_trade_takes_profit_then_stops_at_break_even(
    settings: Settings, db: Database, user_id: uuid.UUID
) -> None:
    # Bought at the second candle's open (100000), TP1 (101000) reached at 101500, then back at
    # 100000: below the stop moved to the entry price (100100, its fee in).
    bars = flat("100000", 6) + flat("101500", 6) + flat("100000", 30)
    candles = minute_candles(datetime(2025, 3, 1, tzinfo=UTC), bars)
    await store_candles(db, candles)
    clock = Clock()
    paper = {
        "price_source": "replay",
        "timeframe": "1m",
        "start": (candles[0].ts + MINUTE).isoformat(),
        "speed": 600,  # a candle every tenth of a wall second
        "balances": {"USDT": "10000"},
    }
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        mode="paper",
        paper=paper,
        bot_type="smart_trade",
        strategy=TRADE,
        investment="1000",
    )
    ctx = runtime_context(settings, db, clock)
    try:
        for _ in range(40):
            await tick_bot(ctx, bot_id)
            if (await load_bot(db, bot_id)).status == BotStatus.STOPPED:
                break
            clock.move(0.1)
    finally:
        await ctx.close()

    bot = await load_bot(db, bot_id)
    assert bot.status == BotStatus.STOPPED and bot.stop_initiator == "bot", bot.error
    state = strategy_state(bot)
    assert (state["exit"], state["done"]) == ("break_even", True)
    assert D(state["stop"]) >= D(state["spent"]) / D(state["bought"])
    assert await statuses(db, bot_id) == {
        "E1": "filled",
        "T2": "filled",
        "T3": "canceled",
        "X4": "filled",
    }
    assert D(state["holding"][2]) > 0  # realised: half sold at 101000, half at 100000


async def test_a_live_smart_trade_against_the_exchange(live: LiveAccount) -> None:
    bot_id = await live.bot(
        status="starting", bot_type="smart_trade", strategy=TRADE, investment="1000"
    )
    await run_to_break_even(live.ctx, live.db, live.sim, bot_id)

    orders = await orders_of(live.db, bot_id)
    assert {tag_of(o): o.status for o in orders} == {
        "E1": "filled",
        "T2": "filled",
        "T3": "canceled",
        "X4": "filled",
    }
    # Every order went through the exchange, once each.
    sent = {o.client_order_id for o in orders}
    assert {o.client_order_id for o in live.sim.orders()} >= sent
    assert strategy_state(await load_bot(live.db, bot_id))["exit"] == "break_even"


async def test_a_restarted_worker_resumes_the_trade_without_a_second_order(
    settings: Settings, live: LiveAccount
) -> None:
    db, sim = live.db, live.sim
    bot_id = await live.bot(
        status="starting", bot_type="smart_trade", strategy=TRADE, investment="1000"
    )
    sim.set_price(SYMBOL, "100000")
    await tick_until(live.ctx, db, bot_id, lambda bot: strategy_state(bot).get("targets"))
    before = await statuses(db, bot_id)
    sent = len(sim.orders())
    await live.ctx.close()

    # Another process: nothing cached, everything read back from the rows.
    again = runtime_context(settings, db, Clock(), sim_url=sim.url)
    try:
        for _ in range(3):
            await tick_bot(again, bot_id)
        assert await statuses(db, bot_id) == before  # no second entry, no second target
        assert len(sim.orders()) == sent
        sim.set_price(SYMBOL, "97000")  # the stop, as it was before the restart
        await tick_until(again, db, bot_id, lambda bot: bot.status == BotStatus.STOPPED)
    finally:
        await again.close()
    assert strategy_state(await load_bot(db, bot_id))["exit"] == "stop_loss"
    assert await statuses(db, bot_id) == {
        "E1": "filled",
        "T2": "canceled",
        "T3": "canceled",
        "X4": "filled",
    }


async def test_a_close_the_exchange_keeps_rejecting_is_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """The stop's market sell is rejected by the exchange at every try (insufficient balance):
    the trade sells again at the next tick, then backs off (a minute after the second rejection
    in a row), and sells once the exchange takes the order. It once sent a rejected order at
    every tick."""
    bot_id = await live.bot(
        status="starting", bot_type="smart_trade", strategy=TRADE, investment="1000"
    )
    live.sim.set_price(SYMBOL, "100000")
    await tick_until(live.ctx, live.db, bot_id, lambda bot: strategy_state(bot).get("targets"))
    live.sim.inject_fault(
        "binance_error",
        "POST /api/v3/order",
        times=None,
        status=400,
        code=-2010,
        msg="Account has insufficient balance for requested action.",
    )
    live.sim.set_price(SYMBOL, "97000")  # below the stop
    for _ in range(8):
        await tick_bot(live.ctx, bot_id)
        clock.move(5)  # 40 s of ticks: the second rejection in a row waits a minute

    closes = await closes_of(live.db, bot_id)
    assert list(closes.values()) == ["rejected", "rejected"], closes
    bot = await load_bot(live.db, bot_id)
    state = strategy_state(bot)
    assert bot.status == BotStatus.RUNNING and state["refusals"] == 2 and state["retry_at"]

    live.sim.clear_faults()  # the exchange takes orders again: sold once the back-off ends
    clock.move(60)
    await tick_until(live.ctx, live.db, bot_id, lambda bot: bot.status == BotStatus.STOPPED)
    state = strategy_state(await load_bot(live.db, bot_id))
    assert state["exit"] == "stop_loss" and state["refusals"] == 0 and state["retry_at"] is None
    closes = await closes_of(live.db, bot_id)
    assert sorted(closes.values()) == ["filled", "rejected", "rejected"], closes


async def test_take_profits_the_exchange_keeps_rejecting_are_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """The exchange rejects the take-profits (a price filter, say) at every try: they are placed
    again at the next tick, then after a minute, and rest once the exchange takes them. They
    were once sent again at every tick (two rejected orders a tick, for as long as it lasted)."""
    bot_id = await live.bot(
        status="starting", bot_type="smart_trade", strategy=TRADE, investment="1000"
    )
    live.sim.set_price(SYMBOL, "100000")
    await tick_bot(live.ctx, bot_id)  # the entry fills; its take-profits follow its fill
    assert await statuses(live.db, bot_id) == {"E1": "filled"}
    live.reject_new_orders()
    await live.tick_for(bot_id, clock)  # the second rejection in a row waits a minute

    targets = {tag: s for tag, s in (await statuses(live.db, bot_id)).items() if tag[0] == "T"}
    assert list(targets.values()) == ["rejected"] * 4, targets  # two tries of two steps
    state = strategy_state(await load_bot(live.db, bot_id))
    assert state["targets"] == {} and state["targets_backoff"]["refusals"] == 2

    live.sim.clear_faults()
    clock.move(60)
    await tick_until(live.ctx, live.db, bot_id, lambda bot: strategy_state(bot)["targets"])
    resting = {o.client_order_id for o in live.sim.orders(status="NEW")}
    placed = await orders_of(live.db, bot_id)
    assert len(resting) == 2 and resting <= {o.client_order_id for o in placed}
    live.sim.set_price(SYMBOL, "101500")  # the first step sells: the back-off is over
    await tick_until(live.ctx, live.db, bot_id, lambda bot: strategy_state(bot)["steps_done"])
    assert strategy_state(await load_bot(live.db, bot_id))["targets_backoff"]["refusals"] == 0
