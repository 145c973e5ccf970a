"""A fill on a busy account (finding 2 of issue 9): more than 10,000 trades of other orders on the
same key and symbol after our order was placed (other bots, a human). The fill is found by its
order, applied once, the order closes and the grid answers it, in a handful of requests."""

from __future__ import annotations

from decimal import Decimal

from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import BinanceSimulator
from tests.support.factories import SYMBOL, Clock, LiveAccount, fills_of, orders_of

D = Decimal
MY_TRADES = "/api/v3/myTrades"


def open_prices(sim: BinanceSimulator, side: str) -> list[Decimal]:
    return sorted(o.price for o in sim.orders(status="NEW") if o.side == side)


async def test_a_fill_after_10500_trades_of_other_orders_is_found_and_countered(
    live: LiveAccount, clock: Clock
) -> None:
    clock.move(-60)  # the ladder went out a minute ago (the runtime's clock)
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    assert open_prices(live.sim, "BUY") == [
        D(p) for p in ("95000", "96000", "97000", "98000", "99000")
    ]
    # The same key then traded 10,500 times for other orders, over the last 30 s.
    live.sim.add_past_trades(10_500, SYMBOL, per_order=3, spread_ms=30_000)
    clock.move(60)
    [ours] = live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills, after all of them
    before = len(live.sim.requests)

    await tick_bot(live.ctx, bot_id)

    assert open_prices(live.sim, "SELL") == [D("100000")]  # the counter-order
    filled = [o for o in await orders_of(live.db, bot_id) if o.status == "filled"]
    assert [(o.exchange_order_id, o.filled) for o in filled] == [(str(ours.order_id), ours.qty)]
    assert [f.trade_id for f in await fills_of(live.db, bot_id)] == [str(ours.trade_id)]
    requests = live.sim.requests[before:]
    trade_reads = [r for r in requests if r.path == MY_TRADES]
    assert [r.params.get("orderId") for r in trade_reads] == [str(ours.order_id)]
    assert len(requests) <= 6, [(r.method, r.path) for r in requests]

    before = len(live.sim.requests)
    await tick_bot(live.ctx, bot_id)  # a quiet tick: nothing is fetched again
    assert [r for r in live.sim.requests[before:] if r.path == MY_TRADES] == []
    assert len(await fills_of(live.db, bot_id)) == 1
