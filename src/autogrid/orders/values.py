"""Conversions between ``orders`` rows, the pure order state machine's values and the exchange's.

``OrderState`` mirrors the columns the state machine owns field for field, so a row loads into it
and an outcome's order writes back into the same columns.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from autogrid.exchanges.types import ExchangeOrder, ExchangeTrade, OrderType, Side
from autogrid.models import Fill, Order
from autogrid.trading.orders import (
    ExchangeOrderReport,
    FillReport,
    OrderState,
    OrderStatus,
    is_terminal,
)


class OrderView(Protocol):
    """What a tick reads of an order row. An ``Order`` is one; so is a plain row of the
    ``orders`` table, which the hottest read returns (no ORM objects to build per tick)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def exchange_order_id(self) -> str | None: ...
    @property
    def side(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def price(self) -> Decimal | None: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def filled(self) -> Decimal: ...
    @property
    def intent(self) -> dict[str, Any] | None: ...


CLIENT_ORDER_ID_PREFIX = "ag"
# "ag" + 30 hex digits = 32 characters: inside Binance's [A-Za-z0-9._:/-]{1,36}, and 120 random
# bits, so ids never collide, even across bots sharing one exchange account.
CLIENT_ORDER_ID_HEX = 30


def new_client_order_id() -> str:
    return CLIENT_ORDER_ID_PREFIX + secrets.token_hex(CLIENT_ORDER_ID_HEX // 2)


def tag_of(order: OrderView) -> str | None:
    intent = order.intent or {}
    tag = intent.get("tag")
    return str(tag) if tag is not None else None


# Keys of ``orders.intent`` besides the tag, written when a refused or never-placed order is
# placed again: which try this is, the client id it replaces, and when it may be sent.
ATTEMPT_KEY = "attempt"
REPLACES_KEY = "replaces"
NOT_BEFORE_KEY = "not_before"


def not_before(order: OrderView) -> datetime | None:
    """When a replacement may be sent (after a rate limit's Retry-After); None: at once."""
    value = (order.intent or {}).get(NOT_BEFORE_KEY)
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def is_due(order: OrderView, now: datetime) -> bool:
    due = not_before(order)
    return due is None or due <= now


def state_of(order: Order) -> OrderState:
    return OrderState(
        client_order_id=order.client_order_id,
        side=Side(order.side),
        type=OrderType(order.type),
        amount=order.amount,
        price=order.price,
        status=OrderStatus(order.status),
        filled=order.filled,
        average_price=order.average_price,
        fee=order.fee,
        fee_currency=order.fee_currency,
        exchange_order_id=order.exchange_order_id,
        unknown_checks=order.unknown_checks,
        last_checked_at=order.last_checked_at,
        submitted_at=order.submitted_at,
        error=order.error,
    )


def columns_of(state: OrderState, now: datetime, closed_at: datetime | None) -> dict[str, Any]:
    """The row's columns for ``state`` (``closed_at`` stamped when it first turns terminal)."""
    if is_terminal(state.status) and closed_at is None:
        closed_at = now
    return {
        "status": state.status.value,
        "filled": state.filled,
        "average_price": state.average_price,
        "fee": state.fee,
        "fee_currency": state.fee_currency,
        "exchange_order_id": state.exchange_order_id,
        "unknown_checks": state.unknown_checks,
        "last_checked_at": state.last_checked_at,
        "submitted_at": state.submitted_at,
        "error": state.error[:2000] if state.error else None,
        "closed_at": closed_at,
        "updated_at": now,
    }


def report_of(order: ExchangeOrder) -> ExchangeOrderReport:
    return ExchangeOrderReport(
        status=order.status,
        filled=order.filled,
        exchange_order_id=order.exchange_order_id,
        client_order_id=order.client_order_id,
        average_price=order.average_price,
    )


def fill_report_of(trade: ExchangeTrade) -> FillReport:
    fee = trade.fee
    return FillReport(
        trade_id=trade.trade_id,
        price=trade.price,
        amount=trade.amount,
        fee=fee.cost if fee is not None else Decimal(0),
        fee_currency=fee.currency if fee is not None else None,
        ts=trade.ts,
        exchange_order_id=trade.exchange_order_id,
        is_maker=trade.is_maker,
        executed_at=trade.executed_at,
    )


def fill_row(order: Order, fill: FillReport) -> Fill:
    return Fill(
        id=uuid.uuid4(),
        ts=fill.ts,
        order_id=order.id,
        bot_id=order.bot_id,
        trade_id=fill.trade_id,
        side=order.side,
        price=fill.price,
        amount=fill.amount,
        fee=fill.fee,
        fee_currency=fill.fee_currency,
        is_maker=fill.is_maker,
        executed_at=fill.traded_at,
    )
