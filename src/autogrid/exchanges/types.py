"""Exchange values in our own terms: Decimal amounts, aware UTC times, never raw ccxt dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class ExchangeOrderStatus(StrEnum):
    """What the exchange says about an order (ccxt's unified vocabulary)."""

    OPEN = "open"
    CLOSED = "closed"  # fully filled
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class MarketRules:
    """Precision and limits of one market; every order is rounded and checked against these."""

    symbol: str
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal = Decimal(0)
    max_amount: Decimal | None = None
    min_cost: Decimal = Decimal(0)
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    active: bool = True


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None
    ask: Decimal | None
    ts: datetime


@dataclass(frozen=True, slots=True)
class OrderBook:
    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts: datetime | None


@dataclass(frozen=True, slots=True)
class CandleData:
    ts: datetime  # open time, UTC
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    free: Decimal
    used: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True, slots=True)
class Fee:
    cost: Decimal
    currency: str | None


@dataclass(frozen=True, slots=True)
class ExchangeOrder:
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    type: OrderType
    status: ExchangeOrderStatus
    amount: Decimal
    filled: Decimal
    price: Decimal | None
    average_price: Decimal | None
    ts: datetime | None
    fee: Fee | None = None


@dataclass(frozen=True, slots=True)
class ExchangeTrade:
    trade_id: str
    exchange_order_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Fee | None
    ts: datetime  # the exchange's trade time (a paper candle match: the candle's close)
    is_maker: bool | None = None
    # When the price was there, if earlier than ``ts``: a paper fill matched against a candle
    # settles at its close but names its open. None: ``ts`` (a real exchange's trades).
    executed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order already rounded to the market's precision and checked against its limits."""

    symbol: str
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None
    client_order_id: str


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    can_trade: bool
    can_withdraw: bool
    raw: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, repr=False)
class ApiCredentials:
    """Decrypted exchange key material. Lives only in memory, never logged: the repr masks it."""

    api_key: str
    secret: str
    passphrase: str | None = None

    def __repr__(self) -> str:
        return f"ApiCredentials(api_key={mask_secret(self.api_key)!r}, secret='***')"

    def secrets(self) -> tuple[str, ...]:
        """Every string that must never appear in a message or log line."""
        return tuple(value for value in (self.api_key, self.secret, self.passphrase) if value)


def mask_secret(value: str) -> str:
    """``abcd...wxyz`` style: enough to recognise a key, too little to use it."""
    if len(value) <= 8:
        return "***"
    return f"{value[:4]}...{value[-4:]}"
