"""The owner's journal hears of every order transition that matters and of every fill, from the
one place they are written (``OrderWriter``), in the same transaction: a rolled-back write
leaves no event, and no transition or fill is journalled twice."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.exchanges.types import ExchangeOrderStatus, OrderType, Side
from autogrid.execution import cancel, lookups, submit, trades
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.trading.orders import ExchangeOrderReport
from tests.exchange_sim import BinanceSimulator
from tests.support.contexts import TEST_POLICY
from tests.support.factories import Clock, bot_events, bot_ref, make_bot, make_user, order_by_id
from tests.support.fixtures import ConnectorMaker

D = Decimal
T = EventType


async def _manager(
    database: Database, make_connector: ConnectorMaker, clock: Clock
) -> OrderManager:
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id)
    return OrderManager(
        database, make_connector(), bot_ref(bot_id, user_id), policy=TEST_POLICY, clock=clock
    )


async def _intend(
    database: Database, manager: OrderManager, amount: str = "0.003", tag: str = "B1"
) -> uuid.UUID:
    intent = Intent(tag, Side.BUY, OrderType.LIMIT, D(amount), D("90000"))
    async with database.session_scope() as session:
        order, _ = manager.add_order(session, intent, manager.clock())
    return order.id


async def _types(database: Database, manager: OrderManager) -> list[str]:
    return [event.type for event in await bot_events(database, manager.bot.bot_id)]


async def test_an_order_placed_acknowledged_partly_then_fully_filled_with_each_fill(
    database: Database, make_connector: ConnectorMaker, sim: BinanceSimulator, clock: Clock
) -> None:
    manager = await _manager(database, make_connector, clock)
    order_id = await _intend(database, manager)
    assert await _types(database, manager) == []  # an intent is not news until it is sent

    await submit.submit(manager, order_id)
    cid = (await order_by_id(database, order_id)).client_order_id
    sim.fill_order(client_order_id=cid, quantity="0.001")
    await trades.fetch_trades(manager, [order_id])
    sim.fill_order(client_order_id=cid, quantity="0.002")
    await trades.fetch_trades(manager, [order_id])
    await trades.fetch_trades(manager, [order_id])  # nothing new: nothing journalled

    events = await bot_events(database, manager.bot.bot_id)
    assert [e.type for e in events] == [
        T.ORDER_PLACED,
        T.ORDER_ACKNOWLEDGED,
        T.ORDER_PARTIALLY_FILLED,
        T.FILL,
        T.ORDER_FILLED,
        T.FILL,
    ]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert {e.user_id for e in events} == {manager.bot.user_id}
    fills = [e.data for e in events if e.type == T.FILL and e.data is not None]
    assert [(D(f["amount"]), D(f["price"]), f["tag"]) for f in fills] == [
        (D("0.001"), D(90000), "B1"),
        (D("0.002"), D(90000), "B1"),
    ]
    filled = events[4].data
    assert filled is not None
    assert (filled["client_order_id"], D(filled["filled"])) == (cid, D("0.003"))


async def test_a_cancelled_an_expired_and_a_denied_order(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    cancelled = await _intend(db, manager, tag="B1")
    await submit.submit(manager, cancelled)
    await cancel.request_cancel(manager, cancelled)
    expired = await _intend(db, manager, tag="B2")
    await submit.submit(manager, expired)
    # What a lookup or the reconciler hears of a time-in-force order the exchange let lapse.
    report = ExchangeOrderReport(ExchangeOrderStatus.EXPIRED, D(0))
    await lookups.apply_report(manager, expired, report)
    intent = Intent("B3", Side.BUY, OrderType.LIMIT, D("0.001"), D("90000"))
    async with db.session_scope() as session:
        manager.add_denied(session, intent, "circuit breaker tripped: loss limit", manager.clock())

    events = await bot_events(db, manager.bot.bot_id)
    journal = [(e.type, (e.data or {}).get("tag")) for e in events]
    assert (T.ORDER_CANCELLED, "B1") in journal
    assert (T.ORDER_EXPIRED, "B2") in journal
    [denied] = [e for e in events if e.type == T.ORDER_DENIED]
    assert denied.data is not None and denied.data["tag"] == "B3"
    assert "loss limit" in denied.message


async def test_a_rolled_back_order_write_leaves_no_event(
    database: Database, make_connector: ConnectorMaker, clock: Clock
) -> None:
    manager = await _manager(database, make_connector, clock)
    intent = Intent("B1", Side.BUY, OrderType.LIMIT, D("0.001"), D("90000"))
    with pytest.raises(RuntimeError, match="after the write"):
        async with database.session_scope() as session:
            manager.add_denied(session, intent, "kill switch: drill", manager.clock())
            await session.flush()  # the event row was really written in the transaction
            raise RuntimeError("after the write")
    assert await _types(database, manager) == []
    async with database.session_scope() as session:
        manager.add_denied(session, intent, "kill switch: drill", manager.clock())
    assert await _types(database, manager) == [T.ORDER_DENIED]
