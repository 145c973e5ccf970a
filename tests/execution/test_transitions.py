"""The one choke point every exchange report and trade goes through (execution/transitions.py):
a trade applied twice records one fill, and an event the state machine refuses is logged and
dropped, leaving the row exactly as it was."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from autogrid.core.db import Database
from autogrid.exchanges.types import ExchangeOrderStatus, ExchangeTrade, Fee, Side
from autogrid.execution import submit, trades
from autogrid.execution.order_manager import OrderManager
from autogrid.trading.orders import ExchangeOrderReport, OrderStatus, on_cancel_acknowledged
from tests.exchange_sim import BinanceSimulator
from tests.execution.test_order_manager import intend
from tests.support.factories import bot_events, events_of, fills_of, order_by_id

D = Decimal
S = OrderStatus


def trade_of(manager: OrderManager, exchange_order_id: str, trade_id: str = "t-1") -> ExchangeTrade:
    return ExchangeTrade(
        trade_id=trade_id,
        exchange_order_id=exchange_order_id,
        client_order_id=None,
        symbol=manager.bot.symbol,
        side=Side.BUY,
        price=D("90000"),
        amount=D("0.0004"),
        fee=Fee(D("0.0000004"), "BTC"),
        ts=manager.clock(),
    )


async def open_order(db: Database, manager: OrderManager) -> uuid.UUID:
    order_id = await intend(db, manager)
    await submit.submit(manager, order_id)
    assert (await order_by_id(db, order_id)).status == S.OPEN
    return order_id


async def test_a_trade_applied_twice_records_one_fill(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await open_order(db, manager)
    exchange_id = (await order_by_id(db, order_id)).exchange_order_id
    assert exchange_id is not None
    trade = trade_of(manager, exchange_id)

    assert await trades.record_trade(manager.transitions, order_id, trade)
    assert not await trades.record_trade(manager.transitions, order_id, trade)

    fills = await fills_of(db, manager.bot.bot_id)
    assert [f.trade_id for f in fills] == ["t-1"]
    order = await order_by_id(db, order_id)
    assert (order.status, order.filled) == (S.PARTIALLY_FILLED, D("0.0004"))


async def test_a_trade_for_an_order_never_sent_is_dropped_and_logged(
    db: Database, manager: OrderManager, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = await intend(db, manager)
    before = await order_by_id(db, order_id)

    with caplog.at_level(logging.WARNING, logger="autogrid.execution.transitions"):
        applied = await trades.record_trade(
            manager.transitions, order_id, trade_of(manager, "12345")
        )

    assert not applied
    assert "dropped" in caplog.text and str(order_id) in caplog.text
    [anomaly] = await bot_events(db, manager.bot.bot_id, "order_anomaly")
    assert anomaly.data is not None and anomaly.data["order_id"] == str(order_id)
    after = await order_by_id(db, order_id)
    assert (after.status, after.filled, after.version) == (S.NEW, D(0), before.version)
    assert await fills_of(db, manager.bot.bot_id) == []


async def test_a_report_the_state_machine_refuses_leaves_the_row_as_it_was(
    db: Database, manager: OrderManager, caplog: pytest.LogCaptureFixture
) -> None:
    order_id = await intend(db, manager)
    before = await order_by_id(db, order_id)
    events = await events_of(db, order_id)
    # A cancel's answer for an order that was never sent.
    report = ExchangeOrderReport(status=ExchangeOrderStatus.CANCELED, filled=D(0))

    with caplog.at_level(logging.WARNING, logger="autogrid.execution.transitions"):
        applied = await manager.transitions.apply_exchange_event(
            order_id, lambda state, _: on_cancel_acknowledged(state, report)
        )

    assert applied is None
    assert "dropped" in caplog.text
    assert len(await bot_events(db, manager.bot.bot_id, "order_anomaly")) == 1
    after = await order_by_id(db, order_id)
    assert (after.status, after.version) == (S.NEW, before.version)
    assert await events_of(db, order_id) == events


async def test_trades_naming_client_ids_go_to_their_orders(
    db: Database, manager: OrderManager, sim: BinanceSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The paper exchange's trades carry our client order ids: each is applied to its order, a
    trade for no order of the bot is logged and left."""
    order_id = await open_order(db, manager)
    order = await order_by_id(db, order_id)
    assert order.exchange_order_id is not None
    ours = replace(
        trade_of(manager, order.exchange_order_id), client_order_id=order.client_order_id
    )
    stranger = replace(ours, trade_id="t-2", client_order_id="ag-not-ours")

    with caplog.at_level(logging.WARNING, logger="autogrid.execution.trades"):
        assert (
            await trades.record_trades_by_client_id(manager.transitions, [ours, stranger, ours])
            == 1
        )

    assert "t-2" in caplog.text
    assert [f.trade_id for f in await fills_of(db, manager.bot.bot_id)] == ["t-1"]
