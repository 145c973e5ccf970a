"""Stopping as asked: cancel or leave the orders, sell the base; a strategy's own StopBot; a
breaker that cancels on trip; the periodic reconciliation of a stopped bot; the metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from autogrid.core.db import Database
from autogrid.models import BotStatus, KillSwitch
from autogrid.scheduling.claims import reconcile_all
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import make_ccxt_binance
from tests.support.factories import (
    GRID_STRATEGY,
    SYMBOL,
    Clock,
    LiveAccount,
    bot_events,
    fills_of,
    load_bot,
    orders_of,
    set_bot,
)

D = Decimal


async def started(live: LiveAccount, **kw: Any) -> uuid.UUID:
    bot_id = await live.bot(status="starting", **kw)
    await tick_bot(live.ctx, bot_id)
    return bot_id


async def request_stop(db: Database, bot_id: uuid.UUID, **options: bool) -> None:
    bot = await load_bot(db, bot_id)
    request = {"cancel_orders": True, "sell_base": False, "requested_at": "2026-01-01T00:00Z"}
    request.update(options)
    await set_bot(db, bot_id, status="stopping", state={**bot.state, "stop_request": request})


async def test_stop_selling_the_base_sells_the_bots_position_at_market(live: LiveAccount) -> None:
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills: 0.00505 BTC less a 0.1% fee in BTC
    await tick_bot(live.ctx, bot_id)
    await request_stop(live.db, bot_id, sell_base=True)

    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    sells = [o for o in live.sim.orders() if o.side == "SELL"]
    market = [o for o in sells if o.type == "MARKET"]
    assert len(market) == 1 and market[0].status == "FILLED"
    assert market[0].executed_qty == D("0.00504")  # the position, down to the amount step
    assert all(o.status != "NEW" for o in live.sim.orders())
    stop_sell = [
        o for o in await orders_of(live.db, bot_id) if (o.intent or {}).get("tag") == "STOPSELL"
    ]
    assert [o.status for o in stop_sell] == ["filled"]


async def test_a_stop_sell_the_exchange_refused_is_placed_again_and_the_bot_stops_after_it(
    live: LiveAccount, clock: Clock
) -> None:
    """A refused sell is placed again under a new client id; the stop waits for that one (it
    once followed the refused order's id, stopped, and left the replacement unsent)."""
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")
    await tick_bot(live.ctx, bot_id)
    await request_stop(live.db, bot_id, sell_base=True)
    # The sell's first create: 429, come back in a second.
    live.sim.inject_fault("rate_limit", "POST /api/v3/order", retry_after=1)

    for _ in range(4):
        await tick_bot(live.ctx, bot_id)
        clock.move(1)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    [market] = [o for o in live.sim.orders() if o.side == "SELL" and o.type == "MARKET"]
    assert market.status == "FILLED" and market.executed_qty == D("0.00504")
    stop_sell = [
        o for o in await orders_of(live.db, bot_id) if (o.intent or {}).get("tag") == "STOPSELL"
    ]
    assert sorted(o.status for o in stop_sell) == ["filled", "rejected"]
    assert (
        market.client_order_id == next(o for o in stop_sell if o.status == "filled").client_order_id
    )


async def test_the_stop_sale_passes_pre_trade_risk_and_the_kill_switch_denies_it(
    live: LiveAccount,
) -> None:
    """The stop's market sell is vetted like any order a decision places: with the kill switch
    engaged the cancels go through, the sell is written DENIED and never sent, and the bot
    stops saying why the base was kept."""
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")
    await tick_bot(live.ctx, bot_id)
    await request_stop(live.db, bot_id, sell_base=True)
    async with live.db.session_scope() as session:
        session.add(
            KillSwitch(scope="global", engaged=True, reason="drill", changed_at=datetime.now(UTC))
        )

    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    assert live.sim.orders(status="NEW") == []  # cancels go through the kill switch
    assert [o for o in live.sim.orders() if o.type == "MARKET"] == []
    stop_sell = [
        o for o in await orders_of(live.db, bot_id) if (o.intent or {}).get("tag") == "STOPSELL"
    ]
    assert [(o.status, o.error) for o in stop_sell] == [("denied", "kill switch: drill")]
    [skipped] = await bot_events(live.db, bot_id, "stop_sell_skipped")
    assert skipped.message == "base not sold: kill switch: drill"


async def test_stop_without_cancelling_leaves_resting_orders(live: LiveAccount) -> None:
    bot_id = await started(live)
    await request_stop(live.db, bot_id, cancel_orders=False)

    await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    assert len(live.sim.orders(status="NEW")) == 5
    assert {o.status for o in await orders_of(live.db, bot_id)} == {"open"}


async def test_a_strategy_stop_loss_stops_the_bot(live: LiveAccount) -> None:
    strategy = {**GRID_STRATEGY, "stop_loss_price": "94500"}
    bot_id = await started(live, strategy=strategy)
    assert len(live.sim.orders(status="NEW")) == 5

    live.sim.set_price(SYMBOL, "94400")  # below the stop: every buy fills, then the grid stops
    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.STOPPED
    assert live.sim.orders(status="NEW") == []
    requested = await bot_events(live.db, bot_id, "stop_requested")
    assert requested and requested[0].message.startswith("the strategy stopped: stop-loss")


async def test_a_breaker_set_to_cancel_on_trip_cancels_the_open_orders(live: LiveAccount) -> None:
    breaker = {"max_loss_pct_per_hour": "0.01", "cancel_open_orders_on_trip": True}
    bot_id = await started(live, breaker=breaker)

    live.sim.set_price(SYMBOL, "98500")  # one buy fills, at a loss beyond 0.01% of 5000
    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.HALTED
    assert live.sim.orders(status="NEW") == []  # cancels go through a tripped breaker
    # The four resting buys, and the sell the fill asked for (withdrawn before being sent).
    assert sorted(o.status for o in await orders_of(live.db, bot_id)) == ["canceled"] * 5 + [
        "filled"
    ]


async def test_the_periodic_reconciliation_covers_stopped_bots(live: LiveAccount) -> None:
    bot_id = await started(live)
    await request_stop(live.db, bot_id, cancel_orders=False)
    await tick_bot(live.ctx, bot_id)
    live.sim.set_price(SYMBOL, "98500")  # a resting order of the stopped bot fills
    exchange = make_ccxt_binance(live.sim.url)
    try:
        await exchange.create_order(
            SYMBOL, "limit", "buy", 0.001, 80000, {"newClientOrderId": "mine"}
        )
    finally:
        await exchange.close()

    assert await reconcile_all(live.ctx) == 1

    assert len(await fills_of(live.db, bot_id)) == 1
    assert sorted(o.status for o in await orders_of(live.db, bot_id)) == ["filled"] + ["open"] * 4
    reported = await bot_events(live.db, bot_id, "unknown_exchange_order")
    assert reported and reported[0].data == {"order_ids": ["mine"]}


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_trading_metrics_are_recorded(live: LiveAccount) -> None:
    opened = sample("autogrid_order_transitions_total", {"exchange": "binance", "status": "open"})
    fills = sample("autogrid_fills_total", {"exchange": "binance", "side": "buy"})
    creates = sample(
        "autogrid_exchange_call_seconds_count", {"exchange": "binance", "method": "create_order"}
    )
    ticks = sample("autogrid_bot_tick_seconds_count", {"bot_type": "grid"})
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")
    await tick_bot(live.ctx, bot_id)

    assert (
        sample("autogrid_order_transitions_total", {"exchange": "binance", "status": "open"})
        == opened + 6
    )  # the ladder, then the sell answering the fill
    assert sample("autogrid_fills_total", {"exchange": "binance", "side": "buy"}) == fills + 1
    assert (
        sample(
            "autogrid_exchange_call_seconds_count",
            {"exchange": "binance", "method": "create_order"},
        )
        == creates + 6
    )
    assert sample("autogrid_bot_tick_seconds_count", {"bot_type": "grid"}) == ticks + 2


def market_sells(live: LiveAccount) -> list[Any]:
    return [o for o in live.sim.orders() if o.side == "SELL" and o.type == "MARKET"]


async def test_a_buy_that_filled_before_the_stop_was_seen_is_sold_too(live: LiveAccount) -> None:
    """The 99000 buy fills on the exchange and the stop comes before the strategy decides on
    it: the sale once sold the position the strategy had recorded (none) and kept the buy."""
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the buy fills; no tick of the running bot sees it
    await request_stop(live.db, bot_id, sell_base=True)

    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    [market] = market_sells(live)
    assert market.status == "FILLED" and market.executed_qty == D("0.00504")


async def test_a_buy_that_fills_while_the_stop_sells_is_sold_by_a_second_sale(
    live: LiveAccount,
) -> None:
    """A stop that leaves the resting orders sells what is held; a buy of those that fills
    before the stop is over is sold by a second sale, never more than held."""
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills
    await request_stop(live.db, bot_id, cancel_orders=False, sell_base=True)
    await tick_bot(live.ctx, bot_id)  # the first sale
    assert [o.executed_qty for o in market_sells(live)] == [D("0.00504")]
    live.sim.set_price(SYMBOL, "97500")  # the 98000 buy fills while the stop is not over

    for _ in range(3):
        await tick_bot(live.ctx, bot_id)

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    sales = market_sells(live)
    assert [o.status for o in sales] == ["FILLED", "FILLED"]
    bought = sum(
        (D(f.amount) - D(f.fee) for f in await fills_of(live.db, bot_id) if f.side == "buy"),
        D(0),
    )
    sold = sum((o.executed_qty for o in sales), D(0))
    assert bought - D("0.00001") < sold <= bought  # all of it, down to the amount step
