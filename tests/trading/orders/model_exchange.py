"""A model exchange with Binance's order semantics, for the stateful order test.

- ``newClientOrderId`` is unique only among OPEN orders: a repeat is accepted once the first order
  is no longer open (the trap that makes a blind resend trade twice).
- Eventual consistency: a just-created order is "not found" by queries and cancels until
  ``visible_at``, although the matching engine already has it (it can fill).
- A cancel of an order that is not open answers "unknown order" (here: None), exactly as for an
  order that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from autogrid.trading.orders import ExchangeOrderReport, ExchangeOrderStatus, FillReport

X = ExchangeOrderStatus


class DuplicateClientOrderId(Exception):
    pass


@dataclass
class ModelOrder:
    exchange_order_id: str
    client_order_id: str
    amount: Decimal
    visible_at: datetime
    status: ExchangeOrderStatus = X.OPEN
    trades: list[FillReport] = field(default_factory=list)

    @property
    def filled(self) -> Decimal:
        return sum((t.amount for t in self.trades), Decimal(0))

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    def average_price(self) -> Decimal | None:
        if not self.trades:
            return None
        with localcontext() as ctx:
            ctx.prec = 80
            return sum((t.amount * t.price for t in self.trades), Decimal(0)) / self.filled

    def report(self) -> ExchangeOrderReport:
        return ExchangeOrderReport(
            self.status,
            self.filled,
            self.exchange_order_id,
            self.client_order_id,
            self.average_price(),
        )


class ModelExchange:
    def __init__(self) -> None:
        self.orders: list[ModelOrder] = []
        self._order_numbers = 0
        self._trade_numbers = 0

    def create(
        self, client_order_id: str, amount: Decimal, now: datetime, visibility_lag: timedelta
    ) -> ModelOrder:
        if any(o.client_order_id == client_order_id and o.status == X.OPEN for o in self.orders):
            raise DuplicateClientOrderId(client_order_id)
        self._order_numbers += 1
        placed = ModelOrder(
            f"x{self._order_numbers}", client_order_id, amount, now + visibility_lag
        )
        self.orders.append(placed)
        return placed

    def _visible(self, client_order_id: str, now: datetime) -> ModelOrder | None:
        # With repeated ids Binance answers about the latest order carrying the id.
        matching = [o for o in self.orders if o.client_order_id == client_order_id]
        if not matching or now < matching[-1].visible_at:
            return None
        return matching[-1]

    def query(self, client_order_id: str, now: datetime) -> ExchangeOrderReport | None:
        found = self._visible(client_order_id, now)
        return found.report() if found else None

    def trades(self, client_order_id: str, now: datetime) -> list[FillReport]:
        found = self._visible(client_order_id, now)
        return list(found.trades) if found else []

    def cancel(self, client_order_id: str, now: datetime) -> ExchangeOrderReport | None:
        found = self._visible(client_order_id, now)
        if found is None or found.status != X.OPEN:
            return None
        found.status = X.CANCELED
        return found.report()

    def open_orders(self) -> list[ModelOrder]:
        return [o for o in self.orders if o.status == X.OPEN]

    def fill(self, order: ModelOrder, amount: Decimal, price: Decimal, now: datetime) -> FillReport:
        assert order.status == X.OPEN and 0 < amount <= order.remaining
        self._trade_numbers += 1
        trade = FillReport(
            trade_id=f"tr{self._trade_numbers}",
            price=price,
            amount=amount,
            fee=(amount * price / 1000).quantize(Decimal("0.00000001")),
            fee_currency="USDT",
            ts=now,
            exchange_order_id=order.exchange_order_id,
        )
        order.trades.append(trade)
        if order.remaining == 0:
            order.status = X.CLOSED
        return trade

    def expire(self, order: ModelOrder) -> None:
        assert order.status == X.OPEN
        order.status = X.EXPIRED
