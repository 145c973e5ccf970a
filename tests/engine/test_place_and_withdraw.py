"""A DCA deal whose safety order fills in the same move that crosses its stop loss: the decision
is saved and the deal stops out. It once failed every tick with StaleOrder (the strategy placed
the next safety order and a new take profit, then withdrew both to exit, and the cancel's
versioned UPDATE ran before the INSERT of the row it withdrew). The strategy now sees the stop
before it re-places anything, so nothing is placed and withdrawn; ``decision.net_actions`` still
drops such pairs (tests/engine/test_dca_ticks.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from autogrid.models import BotStatus
from autogrid.scheduling.ticking import tick_bot
from tests.support.factories import SYMBOL, LiveAccount, load_bot, orders_of

D = Decimal
DCA: dict[str, Any] = {
    "base_order_volume": "200",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "1",
    "max_safety_orders": 2,
    "active_safety_orders_count": 1,
    "take_profit": "1",
    "stop_loss_percentage": "5",
    "cooldown_seconds": 3600,
}


async def test_a_decision_that_places_and_withdraws_an_order_is_saved(live: LiveAccount) -> None:
    bot_id = await live.bot(
        status="starting",
        bot_type="dca",
        strategy=DCA,
        investment="5000",  # the loss breaker (5% an hour) stays out of the way
    )

    async def by_tag() -> dict[str, Any]:
        return {(o.intent or {})["tag"]: o for o in await orders_of(live.db, bot_id)}

    for _ in range(5):  # start, buy at market, then rest the safety order and the take profit
        await tick_bot(live.ctx, bot_id)
        if {"D1.SO1", "D1.TP1"} <= set(await by_tag()):
            break
    orders = await by_tag()
    assert (orders["D1.SO1"].status, orders["D1.TP1"].status) == ("open", "open")

    # SO1 (99000) fills; the average entry is then 99664.45 and the stop 94681.23: exit.
    live.sim.set_price(SYMBOL, "93000")
    await tick_bot(live.ctx, bot_id)
    await tick_bot(live.ctx, bot_id)  # the exit's fill closes the deal

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.RUNNING
    deals = bot.state["strategy"]["deals"]
    assert [(d["close_reason"], d["safety_orders_filled"]) for d in deals] == [("stop_loss", 1)]
    orders = await by_tag()
    # Neither a next safety order nor a new take profit was decided, written or sent.
    assert bot.state["strategy"]["tp_version"] == 1
    assert {tag: o.status for tag, o in orders.items()} == {
        "D1.BO": "filled",
        "D1.SO1": "filled",
        "D1.TP1": "canceled",
        "D1.EXIT": "filled",
    }
    assert orders["D1.EXIT"].average_price == D(93000)
    assert orders["D1.EXIT"].amount == D("0.003")  # 0.00301 less the fees in BTC, rounded down
    assert len(live.sim.orders()) == 4
