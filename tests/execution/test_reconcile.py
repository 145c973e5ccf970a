"""Reconciliation against the simulator: orders left mid-flight by a crash, fills that happened
while nobody looked, and exchange orders the database never saw."""

from __future__ import annotations

from decimal import Decimal

from autogrid.core.db import Database
from autogrid.exchanges.types import OrderType, Side
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.reconcile import execute_pending, report_unknown_orders, sync_orders
from autogrid.trading.orders import OrderStatus, on_submit_started
from tests.exchange_sim import BinanceSimulator, make_ccxt_binance
from tests.execution.test_order_manager import intend
from tests.support.factories import SYMBOL, bot_events, events_of, fills_of, order_by_id

D = Decimal
S = OrderStatus


async def test_an_order_left_submitting_by_a_crash_is_found_not_resent(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager)
    # A previous worker committed SUBMITTING, sent the create, and died before the answer.
    await manager.apply(order_id, lambda state, _: on_submit_started(state, manager.clock()))
    cid = (await order_by_id(db, order_id)).client_order_id
    exchange = make_ccxt_binance(sim.url)
    try:
        await exchange.create_order(SYMBOL, "limit", "buy", 0.001, 90000, {"newClientOrderId": cid})
    finally:
        await exchange.close()

    await sync_orders(manager)
    await execute_pending(manager)

    order = await order_by_id(db, order_id)
    assert order.status == S.OPEN and order.exchange_order_id
    assert [to for _, to in await events_of(db, order_id)] == [
        "new",
        "submitting",
        "unknown",
        "open",
    ]
    assert sim.create_request_count(cid) == 1


async def test_fills_that_happened_meanwhile_are_applied_once(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    buy = await intend(db, manager, price="99000", tag="B1")
    sell = await intend(db, manager, side=Side.SELL, price="101000", tag="S2")
    await execute_pending(manager)
    sim.fill_order(client_order_id=(await order_by_id(db, buy)).client_order_id, quantity="0.0004")
    sim.set_price(SYMBOL, "101500")  # the sell fills completely

    await sync_orders(manager)
    await sync_orders(manager)  # nothing new the second time

    assert (await order_by_id(db, buy)).status == S.PARTIALLY_FILLED
    assert (await order_by_id(db, buy)).filled == D("0.0004")
    assert (await order_by_id(db, sell)).status == S.FILLED
    fills = await fills_of(db, manager.bot.bot_id)
    assert sorted(f.amount for f in fills) == [D("0.0004"), D("0.001")]


async def test_exchange_orders_the_database_never_saw_are_reported_not_cancelled(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    await intend(db, manager)
    await execute_pending(manager)
    exchange = make_ccxt_binance(sim.url)
    try:
        await exchange.create_order(
            SYMBOL, "limit", "buy", 0.001, 80000, {"newClientOrderId": "manual-1"}
        )
    finally:
        await exchange.close()

    found = await sync_orders(manager, full=True)
    assert found.unknown_exchange_orders == ["manual-1"]
    async with db.session_scope() as session:
        reported = await report_unknown_orders(
            session, manager.bot.bot_id, found.unknown_exchange_orders, manager.clock()
        )
    async with db.session_scope() as session:
        again = await report_unknown_orders(
            session, manager.bot.bot_id, found.unknown_exchange_orders, manager.clock()
        )
    assert reported == ["manual-1"] and again == []
    events = await bot_events(db, manager.bot.bot_id, "unknown_exchange_order")
    assert len(events) == 1 and events[0].data == {"order_ids": ["manual-1"]}
    assert [o.status for o in sim.orders(client_order_id="manual-1")] == ["NEW"]


async def test_a_cancel_wanted_while_in_flight_is_sent_once_the_order_is_known(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager)
    await manager.apply(order_id, lambda state, _: on_submit_started(state, manager.clock()))
    async with db.session_scope() as session:
        row = await order_by_id(db, order_id)
        row = await session.merge(row)
        await manager.cancel_in(session, row, manager.clock())
    assert (await order_by_id(db, order_id)).intent == {"tag": "B1", "cancel_wanted": True}

    await sync_orders(manager)  # SUBMITTING -> UNKNOWN -> not found yet: stays UNKNOWN
    assert (await order_by_id(db, order_id)).status == S.UNKNOWN
    assert OrderType.LIMIT  # the order never reached the exchange in this story
