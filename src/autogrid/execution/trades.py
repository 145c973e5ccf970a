"""Fills: the trades of our orders, fetched from the exchange (or produced by the paper
exchange), each applied to its order once, by trade id, through
``Transitions.apply_exchange_event``.

Asked by order where the exchange can list one order's trades (Binance ``myTrades?orderId``): one
request however busy the account. Elsewhere the symbol's history is scanned, a bounded number of
pages per call, from where the last scan of these orders got to (trade_scan.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges import errors
from autogrid.exchanges.types import ExchangeTrade
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.trade_scan import scan_history, scan_start
from autogrid.execution.transitions import Transitions
from autogrid.models import Order
from autogrid.orders import store as repo
from autogrid.orders.values import fill_report_of
from autogrid.trading.orders import OrderState, Outcome, apply_fill

logger = logging.getLogger(__name__)


async def record_trade(transitions: Transitions, order_id: uuid.UUID, trade: ExchangeTrade) -> bool:
    """Apply one trade to its order (own transaction); False if it was applied before (or the
    state machine refused it)."""
    fill = fill_report_of(trade)

    def step(state: OrderState, seen: set[str]) -> Outcome:
        return apply_fill(state, fill, applied_trade_ids=seen)

    result = await transitions.apply_exchange_event(order_id, step, with_trade_ids=True)
    return result is not None and result.outcome.recorded_fill is not None


async def record_trades_by_client_id(
    transitions: Transitions, trades: Sequence[ExchangeTrade]
) -> int:
    """Trades that name our client order ids (the paper exchange's), each applied to its order;
    how many were new."""
    if not trades:
        return 0
    client_ids = {t.client_order_id for t in trades if t.client_order_id}
    bot_id = transitions.bot.bot_id
    ids = await transitions.read(
        lambda session: repo.order_ids_by_client_id(session, bot_id, client_ids)
    )
    applied = 0
    for trade in trades:
        order_id = ids.get(trade.client_order_id or "")
        if order_id is None:
            logger.warning("trade %s is for no order of bot %s", trade.trade_id, bot_id)
            continue
        if await record_trade(transitions, order_id, trade):
            applied += 1
    return applied


async def fetch_trades(manager: OrderManager, order_ids: Iterable[uuid.UUID]) -> int:
    """Apply every trade of these orders the exchange reports (each trade id once)."""
    transitions, connector = manager.transitions, manager.connector
    wanted = list(order_ids)
    orders = await transitions.read(lambda session: _orders(session, wanted))
    applied, unlisted = 0, []
    for order in orders:
        if not order.exchange_order_id:
            continue
        try:
            trades = await connector.fetch_order_trades(
                transitions.bot.symbol, order.exchange_order_id
            )
        except errors.ExchangeError as error:
            logger.info("trades of %s unavailable: %s", order.client_order_id, error)
            continue
        if trades is None:
            unlisted.append(order)
        else:
            for trade in _trades_of(order, trades):
                applied += await record_trade(transitions, order.id, trade)
    if unlisted:
        applied += await _scan_for_trades(manager, unlisted)
    return applied


async def _orders(session: AsyncSession, order_ids: list[uuid.UUID]) -> list[Order]:
    return [o for o in [await repo.get_order(session, i) for i in order_ids] if o]


def _trades_of(order: Order, trades: Iterable[ExchangeTrade]) -> list[ExchangeTrade]:
    """The trades among ``trades`` that are ``order``'s, oldest first."""
    return sorted(
        (t for t in trades if t.exchange_order_id == order.exchange_order_id),
        key=lambda t: (t.ts, t.trade_id),
    )


async def _scan_for_trades(manager: OrderManager, orders: list[Order]) -> int:
    """The fallback: scan the history, apply what is ours, then (only then) move the
    orders' cursor to where the scan got, so the next call goes on from there."""
    transitions, connector = manager.transitions, manager.connector
    since = None if transitions.bot.replay else min(scan_start(order) for order in orders)
    scanned = await scan_history(connector, transitions.bot.symbol, since)
    applied = 0
    for order in orders:
        for trade in _trades_of(order, scanned.trades):
            applied += await record_trade(transitions, order.id, trade)
    if scanned.scanned_to is not None:
        await transitions.advance_trade_scan([o.id for o in orders], scanned.scanned_to)
    return applied
