"""Paper rows as the connector's values (what a real exchange's answers parse into)."""

from __future__ import annotations

from autogrid.exchanges.paper.matching import Execution
from autogrid.exchanges.types import (
    Balance,
    ExchangeOrder,
    ExchangeOrderStatus,
    ExchangeTrade,
    Fee,
    OrderType,
    Side,
)
from autogrid.models.paper import PaperBalance, PaperOrder, PaperTrade


def order_view(order: PaperOrder) -> ExchangeOrder:
    return ExchangeOrder(
        exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side(order.side),
        type=OrderType(order.type),
        status=ExchangeOrderStatus(order.status),
        amount=order.amount,
        filled=order.filled,
        price=order.price,
        average_price=order.average_price,
        ts=order.placed_at,
        fee=Fee(order.fee, order.fee_currency) if order.fee_currency else None,
    )


def trade_view(trade: PaperTrade, order: PaperOrder) -> ExchangeTrade:
    return ExchangeTrade(
        trade_id=trade.trade_id,
        exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=Side(order.side),
        price=trade.price,
        amount=trade.amount,
        fee=Fee(trade.fee, trade.fee_currency),
        ts=trade.ts,
        is_maker=trade.is_maker,
        executed_at=trade.executed_at,
    )


def trade_row(execution: Execution, trade_id: str) -> PaperTrade:
    order = execution.order
    return PaperTrade(
        order_id=order.id,
        account_id=order.account_id,
        trade_id=trade_id,
        price=execution.price,
        amount=execution.amount,
        fee=execution.fee,
        fee_currency=execution.fee_currency,
        is_maker=execution.is_maker,
        ts=execution.ts,
        executed_at=execution.executed_at,
    )


def balance_view(row: PaperBalance) -> Balance:
    return Balance(currency=row.currency, free=row.free, used=row.locked)
