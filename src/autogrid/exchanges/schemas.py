"""Requests and responses of the exchanges API. Decimals travel as plain strings ("0.00001",
never "1E-5"); times are ISO 8601 UTC.

Query models forbid unknown parameters: nothing a client adds to a request can reach ccxt, and a
misspelt parameter is a 422 rather than silently ignored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
)

from autogrid.exchanges.catalog import CAPABILITY_NAMES, TradingSupport
from autogrid.market_data.timeframes import InvalidTimeframe, Timeframe, parse_timeframe

MAX_CANDLES = 1000
DEFAULT_CANDLES = 500
# Millisecond timestamps a client may ask for: from the epoch to 2100-01-01.
MAX_SINCE_MS = 4_102_444_800_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _plain_text(value: Decimal) -> str:
    normalized = value.normalize()
    return format(normalized, "f")  # str() would write 0.00000001 as 1E-8


DecimalText = Annotated[Decimal, PlainSerializer(_plain_text, return_type=str, when_used="json")]


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


# ccxt's unified spot symbols, "BASE/QUOTE" ("btc/usdt" is read as BTC/USDT). The OpenAPI states
# the pattern as accepted before upper-casing (pydantic would leave it out of the schema).
Symbol = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(max_length=40, pattern=r"^[A-Z0-9]{1,16}/[A-Z0-9]{1,16}$"),
    Field(json_schema_extra={"pattern": r"^\s*[A-Za-z0-9]{1,16}/[A-Za-z0-9]{1,16}\s*$"}),
]
Currency = Annotated[
    str,
    BeforeValidator(_upper),
    StringConstraints(pattern=r"^[A-Z0-9]{1,16}$"),
    Field(json_schema_extra={"pattern": r"^\s*[A-Za-z0-9]{1,16}\s*$"}),
]


def parse_moment(value: object, what: str = "since") -> datetime:
    """Milliseconds since the epoch, or ISO 8601 (a date, or a date and time; UTC if no zone)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\d{1,16}", value)):
        ms = int(value)
        if not 0 <= ms < MAX_SINCE_MS:
            raise ValueError(f"{what} in milliseconds must be between 1970 and 2100")
        return _EPOCH + timedelta(milliseconds=ms)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{what} must be milliseconds since the epoch or ISO 8601, e.g. 2025-05-20 or "
                "2025-05-20T12:00:00Z"
            ) from None
    else:
        raise ValueError(f"{what} must be milliseconds or an ISO 8601 string")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00
        raise ValueError(f"{what} must be between 1970 and 2100") from None
    if not _EPOCH <= moment < datetime(2100, 1, 1, tzinfo=UTC):
        raise ValueError(f"{what} must be between 1970 and 2100")
    return moment


def _since_or_none(value: object) -> datetime | None:
    return None if value is None else parse_moment(value)


Since = Annotated[datetime | None, BeforeValidator(_since_or_none)]


# ----------------------------------------------------------------------------------- queries


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExchangeListQuery(_Query):
    trading: TradingSupport | None = Field(
        default=None, description="only exchanges with this trading level"
    )


class MarketsQuery(_Query):
    quote: Currency | None = Field(default=None, description="only markets quoted in this currency")


class TickerQuery(_Query):
    symbol: Symbol = Field(description="unified spot symbol, e.g. BTC/USDT")


class OhlcvQuery(_Query):
    symbol: Symbol = Field(description="unified spot symbol, e.g. BTC/USDT")
    timeframe: str = Field(max_length=8, description="candle length, e.g. 1m, 15m, 4h, 1d, 1w")
    since: Since = Field(
        default=None,
        description="first candle at or after this time: milliseconds since the epoch or "
        "ISO 8601 (UTC if no zone); omitted: the latest closed candles",
    )
    limit: int = Field(default=DEFAULT_CANDLES, ge=1, le=MAX_CANDLES, description="candles")

    @field_validator("timeframe")
    @classmethod
    def _known_timeframe(cls, value: str) -> str:
        try:
            parse_timeframe(value)
        except InvalidTimeframe as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def frame(self) -> Timeframe:
        return parse_timeframe(self.timeframe)


# ----------------------------------------------------------------------------------- responses


class ExchangeRead(BaseModel):
    id: str
    name: str
    trading: TradingSupport = Field(
        description="supported: trading tested end to end; offered: trading through ccxt, "
        "untested by us; market_data: prices and candles only"
    )
    can_trade: bool
    sandbox: bool = Field(description="the exchange has a testnet")
    capabilities: dict[str, bool] = Field(
        description=f"ccxt unified methods available: {', '.join(CAPABILITY_NAMES)}"
    )


class ExchangeList(BaseModel):
    items: list[ExchangeRead]
    total: int


class MarketRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    symbol: str
    base: str
    quote: str
    amount_step: DecimalText
    price_tick: DecimalText
    min_amount: DecimalText
    max_amount: DecimalText | None
    min_cost: DecimalText
    min_price: DecimalText | None
    max_price: DecimalText | None
    maker_fee: DecimalText
    taker_fee: DecimalText
    active: bool


class MarketList(BaseModel):
    exchange: str
    loaded_at: datetime = Field(description="when the markets were loaded from the exchange")
    items: list[MarketRead]
    total: int


class TickerRead(BaseModel):
    exchange: str
    symbol: str
    last: DecimalText
    bid: DecimalText | None
    ask: DecimalText | None
    ts: datetime


class CandleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    ts: datetime = Field(description="open time, UTC")
    open: DecimalText
    high: DecimalText
    low: DecimalText
    close: DecimalText
    volume: DecimalText


class CandleList(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    candles: list[CandleRead] = Field(description="closed candles, oldest first")
    fetched: int = Field(description="candles fetched from the exchange for this request")
