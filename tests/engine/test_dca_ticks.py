"""A live DCA bot in process against the simulator: several fills answered in one decision, a
base order pre-trade risk keeps refusing."""

from __future__ import annotations

from decimal import Decimal

from autogrid.engine.recording import net_actions
from autogrid.exchanges.types import OrderType, Side
from autogrid.models import BotStatus
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import OrderStatus
from autogrid.trading.strategies.base import Action, CancelOrder, PlaceOrder, StopBot
from tests.support.factories import (
    SYMBOL,
    Clock,
    LiveAccount,
    bot_events,
    load_bot,
    orders_of,
    set_bot,
)

D = Decimal
TWO_AT_ONCE = {
    "base_order_volume": "200",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "2",
    "max_safety_orders": 3,
    "active_safety_orders_count": 2,
    "take_profit": "1.5",
}


def place(tag: str) -> PlaceOrder:
    return PlaceOrder(tag, Side.SELL, OrderType.LIMIT, D(1), D(100))


def test_an_order_placed_and_cancelled_in_one_decision_is_neither() -> None:
    actions: list[Action] = [
        CancelOrder("TP1"),
        place("TP2"),
        CancelOrder("TP2"),
        place("TP3"),
        place("X"),
        CancelOrder("X"),
        place("X"),
        StopBot("no"),
    ]
    assert net_actions(actions) == [CancelOrder("TP1"), place("TP3"), place("X"), StopBot("no")]


async def test_two_safety_orders_filled_at_once_move_the_take_profit_once(
    live: LiveAccount,
) -> None:
    live.sim.set_price(SYMBOL, "80000")
    bot_id = await live.bot(
        status="starting", bot_type="dca", strategy=TWO_AT_ONCE, investment=None
    )
    await tick_bot(live.ctx, bot_id)  # starts, base order at the market
    await tick_bot(live.ctx, bot_id)  # safety orders at 78400 and 76800, take profit above

    live.sim.set_price(SYMBOL, "76000")  # both safety orders fill before the bot looks again
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.RUNNING, bot.error
    orders = {tag_of(o): o for o in await orders_of(live.db, bot_id)}
    assert {tag: o.status for tag, o in orders.items()} == {
        "D1.BO": "filled",
        "D1.SO1": "filled",
        "D1.SO2": "filled",
        "D1.SO3": "open",
        "D1.TP1": "canceled",
        "D1.TP2": "open",  # both fills counted first, then one take profit for what is held
    }
    deal = bot.state["strategy"]
    average = D(deal["bought_notional"]) / D(deal["bought_amount"])
    assert orders["D1.TP2"].price == (average * D("1.015")).quantize(D("0.01"))
    assert [o.price for o in live.sim.orders(status="NEW") if o.side == "SELL"] == [
        orders["D1.TP2"].price
    ]


async def test_a_restart_keeps_the_deal_history_and_numbering(live: LiveAccount) -> None:
    live.sim.set_price(SYMBOL, "80000")
    strategy = {**TWO_AT_ONCE, "cooldown_seconds": 3600}
    bot_id = await live.bot(status="starting", bot_type="dca", strategy=strategy, investment=None)
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)
    live.sim.set_price(SYMBOL, "82000")  # the take profit fills: deal 1 closes, the cooldown starts
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)
    bot = await load_bot(live.db, bot_id)
    assert [d["number"] for d in bot.state["strategy"]["deals"]] == [1]

    stop = {"cancel_orders": True, "sell_base": False, "requested_at": "2026-01-01T00:00:00+00:00"}
    await set_bot(live.db, bot_id, status="stopping", state={**bot.state, "stop_request": stop})
    await tick_bot(live.ctx, bot_id)
    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    await set_bot(live.db, bot_id, status="starting")
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)

    state = (await load_bot(live.db, bot_id)).state["strategy"]
    assert [d["number"] for d in state["deals"]] == [1]  # the history survived the restart
    assert state["deal"] == 2 and state["phase"] == "in_deal"  # no cooldown carried over
    tags = {tag_of(o) for o in await orders_of(live.db, bot_id)}
    assert "D2.BO" in tags and not any(t and t.startswith("D3") for t in tags)


async def test_a_base_order_refused_at_every_tick_is_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """Pre-trade risk refuses the base order at every tick (5.5 USDT buys 0.00006 BTC at 80000:
    4.8 USDT, below the market's minimum order value of 5): it is placed again at once, then
    backs off, and its owner hears of it once. It once wrote a refused order and an
    ``order_denied`` event at every tick. Each attempt is the same deal's (its deal never
    opened): each once took a new deal number and journaled another "deal opened"."""
    live.sim.set_price(SYMBOL, "80000")
    small = {**TWO_AT_ONCE, "base_order_volume": "5.5"}
    bot_id = await live.bot(status="starting", bot_type="dca", strategy=small, investment=None)
    for _ in range(8):
        await tick_bot(live.ctx, bot_id)
        clock.move(5)  # 40 s of ticks: the second refusal in a row waits a minute

    orders = await orders_of(live.db, bot_id)
    assert [(tag_of(o), o.status) for o in orders] == [
        ("D1.BO", OrderStatus.DENIED),
        ("D1.BO", OrderStatus.DENIED),
    ]
    (denied,) = await bot_events(live.db, bot_id, "order_denied")
    assert "D1.BO" in denied.message
    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.RUNNING and bot.state["strategy"]["refusals"] == 2

    # At 90000 the same 0.00006 BTC are worth 5.4 USDT: allowed, placed once the back-off ends.
    live.sim.set_price(SYMBOL, "90000")
    clock.move(60)
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)
    placed = [
        (tag_of(o), o.status)
        for o in await orders_of(live.db, bot_id)
        if o.status != OrderStatus.DENIED
    ]
    assert ("D1.BO", OrderStatus.FILLED) in placed
    assert sorted(str(tag) for tag, _ in placed) == ["D1.BO", "D1.SO1", "D1.SO2"]
    state = (await load_bot(live.db, bot_id)).state["strategy"]
    assert state["phase"] == "in_deal" and state["refusals"] == 0 and state["deal"] == 1
    (opened,) = await bot_events(live.db, bot_id, "deal_opened")  # one deal, one event
    assert opened.message.startswith("deal 1 opened")


async def test_a_take_profit_the_exchange_keeps_rejecting_is_placed_again_with_a_back_off(
    live: LiveAccount, clock: Clock
) -> None:
    """The exchange rejects the deal's take profit (a price filter, say) at every try: placed
    again at the next tick, then a minute later; it rests once the exchange takes it. It was
    once sent again at every tick for as long as the rejections went on."""
    live.sim.set_price(SYMBOL, "80000")
    config = {**TWO_AT_ONCE, "max_safety_orders": 0}
    bot_id = await live.bot(status="starting", bot_type="dca", strategy=config, investment=None)
    await tick_bot(live.ctx, bot_id)  # starts, base order at the market
    assert {tag_of(o): o.status for o in await orders_of(live.db, bot_id)} == {"D1.BO": "filled"}
    live.reject_new_orders()
    await live.tick_for(bot_id, clock)  # the second rejection in a row waits a minute

    statuses = {tag_of(o): o.status for o in await orders_of(live.db, bot_id)}
    assert statuses == {"D1.BO": "filled", "D1.TP1": "rejected", "D1.TP2": "rejected"}
    deal = (await load_bot(live.db, bot_id)).state["strategy"]
    assert deal["tp_live"] is None and deal["tp_refusals"] == 2

    live.sim.clear_faults()
    clock.move(60)
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)
    statuses = {tag_of(o): o.status for o in await orders_of(live.db, bot_id)}
    assert statuses["D1.TP3"] == "open", statuses
    deal = (await load_bot(live.db, bot_id)).state["strategy"]
    assert deal["tp_live"] == "D1.TP3"
