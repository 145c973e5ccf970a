"""Small factories for order values in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from autogrid.trading.orders import (
    ExchangeOrderReport,
    ExchangeOrderStatus,
    FillReport,
    OrderSide,
    OrderState,
    OrderStatus,
    OrderType,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def order(status: OrderStatus = OrderStatus.OPEN, **changes: Any) -> OrderState:
    """A 2-unit limit buy at 100 in ``status``; sent orders get ids and a submission time, a
    FILLED one is filled at 100."""
    fields: dict[str, Any] = {
        "client_order_id": "cid-1",
        "side": OrderSide.BUY,
        "type": OrderType.LIMIT,
        "amount": Decimal("2"),
        "price": Decimal("100"),
        "status": status,
    }
    if status not in (OrderStatus.NEW, OrderStatus.DENIED):
        fields["submitted_at"] = T0
    if status not in (OrderStatus.NEW, OrderStatus.DENIED, OrderStatus.SUBMITTING):
        fields["exchange_order_id"] = "x-1"
    if status == OrderStatus.UNKNOWN:
        fields["exchange_order_id"] = None
    if status == OrderStatus.FILLED:
        fields.update(filled=Decimal("2"), average_price=Decimal("100"))
    fields.update(changes)
    return OrderState(**fields)


def fill(
    trade_id: str = "t1",
    amount: str = "0.5",
    price: str = "100",
    fee: str = "0.01",
    fee_currency: str | None = "USDT",
    **changes: Any,
) -> FillReport:
    return FillReport(
        trade_id=trade_id,
        price=Decimal(price),
        amount=Decimal(amount),
        fee=Decimal(fee),
        fee_currency=fee_currency,
        ts=T0 + timedelta(seconds=1),
        **changes,
    )


def report(
    status: ExchangeOrderStatus = ExchangeOrderStatus.OPEN,
    filled: str = "0",
    exchange_order_id: str | None = "x-1",
) -> ExchangeOrderReport:
    return ExchangeOrderReport(status, Decimal(filled), exchange_order_id)
