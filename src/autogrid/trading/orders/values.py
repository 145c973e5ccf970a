"""Immutable values the order logic takes and returns.

``OrderState`` mirrors the columns of ``orders`` that the state machine owns, field for field and
with the same names, so the order manager loads a row into it, calls one pure function, and writes
back ``outcome.order`` plus ``outcome.transition`` (as an ``order_events`` row) and
``outcome.recorded_fill`` (as a ``fills`` row) in one transaction. Columns the logic does not
need (ids, bot, symbol, intent, closed_at, version) stay with the manager, which also stamps times
from its own clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from autogrid.exchanges.types import ExchangeOrderStatus as ExchangeOrderStatus  # re-exported
from autogrid.trading.orders.states import OrderSide, OrderStatus, OrderType

ZERO = Decimal(0)


def _require_finite(name: str, value: Decimal) -> None:
    if not value.is_finite():
        raise ValueError(f"{name} must be finite, got {value}")


@dataclass(frozen=True, slots=True)
class OrderState:
    client_order_id: str
    side: OrderSide
    type: OrderType
    amount: Decimal
    price: Decimal | None
    status: OrderStatus = OrderStatus.NEW
    filled: Decimal = ZERO
    # Quantity-weighted average of the fills we applied; None until the first fill.
    average_price: Decimal | None = None
    # Sum of fill fees in ``fee_currency`` (fills in another currency are kept only in ``fills``).
    fee: Decimal = ZERO
    fee_currency: str | None = None
    exchange_order_id: str | None = None
    # "Not found" lookups while UNKNOWN, and when the last one counted.
    unknown_checks: int = 0
    last_checked_at: datetime | None = None
    # When SUBMITTING was committed; anchors the grace window of an UNKNOWN order.
    submitted_at: datetime | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.client_order_id:
            raise ValueError("client_order_id is required")
        for name in ("amount", "filled", "fee"):
            _require_finite(name, getattr(self, name))
        if self.amount <= 0:
            raise ValueError(f"amount must be positive, got {self.amount}")
        if not ZERO <= self.filled <= self.amount:
            raise ValueError(f"filled {self.filled} must be within 0..amount {self.amount}")
        if self.price is not None and not (self.price.is_finite() and self.price > 0):
            raise ValueError(f"price must be positive, got {self.price}")
        if self.unknown_checks < 0:
            raise ValueError("unknown_checks cannot be negative")
        # FILLED means every unit filled by applied trades, and nothing else is complete (a fill
        # on a REJECTED order is the flagged exception). Catches corrupt rows when they load.
        complete = self.filled == self.amount
        if (self.status == OrderStatus.FILLED) != complete and self.status != OrderStatus.REJECTED:
            raise ValueError(
                f"a {self.status.value} order cannot have {self.filled} filled of {self.amount}"
            )

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True, slots=True)
class FillReport:
    """One trade against our order, as the exchange reported it."""

    trade_id: str
    price: Decimal
    amount: Decimal
    # Negative for a maker rebate; exchanges that pay rebates report them so.
    fee: Decimal
    fee_currency: str | None
    ts: datetime
    # When known, lets a fill that races the create response attach the exchange's id.
    exchange_order_id: str | None = None
    is_maker: bool | None = None
    # When the price was there, if earlier than ``ts`` (a paper candle match: its open).
    executed_at: datetime | None = None

    @property
    def traded_at(self) -> datetime:
        """The time to show the trade at: ``executed_at`` when known, else ``ts``."""
        return self.executed_at or self.ts

    def __post_init__(self) -> None:
        if not self.trade_id:
            raise ValueError("trade_id is required: fills are deduplicated by it")
        for name in ("price", "amount", "fee"):
            _require_finite(name, getattr(self, name))
        if self.price <= 0 or self.amount <= 0:
            raise ValueError(
                f"fill price and amount must be positive: {self.price} x {self.amount}"
            )


@dataclass(frozen=True, slots=True)
class ExchangeOrderReport:
    """What the exchange says about one order (create response, lookup, cancel response, push)."""

    status: ExchangeOrderStatus
    filled: Decimal
    exchange_order_id: str | None = None
    client_order_id: str | None = None
    # Informational only: our average price is derived from the fills we applied.
    average_price: Decimal | None = None

    def __post_init__(self) -> None:
        _require_finite("filled", self.filled)
        if self.filled < 0:
            raise ValueError(f"reported filled cannot be negative, got {self.filled}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change; the caller persists it as an ``order_events`` row."""

    from_status: OrderStatus | None  # None only for the creation event
    to_status: OrderStatus
    reason: str
    # JSON-safe (strings only: Decimals are written with str()).
    data: Mapping[str, str] = field(default_factory=dict)


class AnomalyKind(StrEnum):
    """Things that should not happen. Each one was handled safely, and each one needs a human."""

    FILL_EXCEEDS_AMOUNT = "fill_exceeds_amount"
    FILL_ON_REJECTED_ORDER = "fill_on_rejected_order"
    FEE_CURRENCY_MISMATCH = "fee_currency_mismatch"
    REPORTED_FILLED_EXCEEDS_AMOUNT = "reported_filled_exceeds_amount"
    EXCHANGE_ORDER_ID_MISMATCH = "exchange_order_id_mismatch"
    ORDER_FOUND_AFTER_REJECTED = "order_found_after_rejected"
    REPORT_CONTRADICTS_STATE = "report_contradicts_state"


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one update. Persist ``order``, ``transition`` and ``recorded_fill`` together,
    then act on the follow-ups (the flags below); an outcome never performs I/O itself."""

    order: OrderState
    transition: Transition | None = None
    # A fill seen for the first time: insert it into ``fills`` (as reported, even when clipped)
    # in the same transaction, so its trade id is never applied again.
    recorded_fill: FillReport | None = None
    # How much of that fill went into ``filled`` (less than reported only when clipped).
    applied_amount: Decimal = ZERO
    # The fill's trade id was already applied: nothing changed, nothing to persist.
    duplicate_fill: bool = False
    anomalies: tuple[Anomaly, ...] = ()
    # The exchange reports this much more filled than our applied fills: fetch the order's trades,
    # apply them, then look the order up again. We never raise ``filled`` from a report without
    # the trades behind it, and a reported end waits for them (the order stays live meanwhile).
    missing_fill_amount: Decimal = ZERO
    # Send (or re-send: cancels are idempotent) a cancel request to the exchange.
    send_cancel: bool = False
    # Look the order up by client order id before concluding anything.
    needs_lookup: bool = False
    # UNKNOWN and not found yet: look it up again at (or after) this time.
    next_check_at: datetime | None = None
    # The order is dead without ever having been placed as far as we can tell. Its client order id
    # must never be sent again; a replacement is a new order with a new client order id.
    requires_new_client_order_id: bool = False
    # ...and the cause passes (a refusal to wait out, "not found" after the grace window): place
    # the same intent again, under a new client order id, at (or after) this time. None after a
    # definitive rejection, which the strategy hears of instead.
    replace_at: datetime | None = None

    @property
    def needs_trade_fetch(self) -> bool:
        return self.missing_fill_amount > 0
