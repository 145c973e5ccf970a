"""ccxt's unified dicts and floats -> our frozen dataclasses with Decimal and aware UTC datetimes.

Pure functions. A value ccxt leaves out is never invented when it matters: a missing price of a
trade or a missing order id raises ``FatalExchangeError`` (via ``MalformedResponse``) instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ccxt.base.decimal_to_precision import DECIMAL_PLACES, TICK_SIZE

from autogrid.exchanges.errors import FatalExchangeError
from autogrid.exchanges.types import (
    Balance,
    CandleData,
    ExchangeOrder,
    ExchangeOrderStatus,
    ExchangeTrade,
    Fee,
    KeyPermissions,
    MarketRules,
    OrderBook,
    OrderType,
    Side,
    Ticker,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEFAULT_FEE = Decimal("0.001")


class MalformedResponse(FatalExchangeError):
    """ccxt returned something we cannot turn into our types without guessing."""


def to_decimal(value: Any, what: str = "value") -> Decimal:
    """A ccxt number (float, int or numeric string) as an exact Decimal of its shortest repr."""
    if value is None or isinstance(value, bool):
        raise MalformedResponse(f"{what} is missing")
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise MalformedResponse(f"{what} is not a number: {value!r}") from error
    if not number.is_finite():
        raise MalformedResponse(f"{what} is not finite: {value!r}")
    return number


def optional_decimal(value: Any, what: str = "value") -> Decimal | None:
    return None if value is None else to_decimal(value, what)


def positive_or_none(value: Any, what: str = "value") -> Decimal | None:
    """Exchanges say "no limit" with None *or* 0."""
    number = optional_decimal(value, what)
    return number if number is not None and number > 0 else None


def from_millis(value: Any) -> datetime:
    return _EPOCH + timedelta(milliseconds=int(value))


def optional_millis(value: Any) -> datetime | None:
    return None if value is None else from_millis(value)


def step_from_precision(value: Any, precision_mode: int, what: str) -> Decimal:
    """ccxt gives a tick size (TICK_SIZE mode) or a number of decimals (DECIMAL_PLACES)."""
    if precision_mode == TICK_SIZE:
        step = to_decimal(value, what)
    elif precision_mode == DECIMAL_PLACES:
        step = Decimal(1).scaleb(-int(to_decimal(value, what)))
    else:  # SIGNIFICANT_DIGITS has no fixed step: we cannot round safely
        raise MalformedResponse(f"{what}: precision mode {precision_mode} is not supported")
    if step <= 0:
        raise MalformedResponse(f"{what} must be positive, got {step}")
    return step


def parse_market(market: Mapping[str, Any], precision_mode: int) -> MarketRules:
    symbol = str(market["symbol"])
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    price_limits = limits.get("price") or {}
    cost_limits = limits.get("cost") or {}
    maker = optional_decimal(market.get("maker"), f"{symbol} maker fee")
    taker = optional_decimal(market.get("taker"), f"{symbol} taker fee")
    return MarketRules(
        symbol=symbol,
        base=str(market["base"]),
        quote=str(market["quote"]),
        amount_step=step_from_precision(
            precision.get("amount"), precision_mode, f"{symbol} amount precision"
        ),
        price_tick=step_from_precision(
            precision.get("price"), precision_mode, f"{symbol} price precision"
        ),
        min_amount=optional_decimal(amount_limits.get("min"), "min amount") or Decimal(0),
        max_amount=positive_or_none(amount_limits.get("max"), "max amount"),
        min_cost=optional_decimal(cost_limits.get("min"), "min cost") or Decimal(0),
        min_price=positive_or_none(price_limits.get("min"), "min price"),
        max_price=positive_or_none(price_limits.get("max"), "max price"),
        maker_fee=maker if maker is not None else _DEFAULT_FEE,
        taker_fee=taker if taker is not None else _DEFAULT_FEE,
        # ccxt uses None for "unknown"; only an explicit False closes the market.
        active=market.get("active") is not False,
    )


def parse_ticker(ticker: Mapping[str, Any], received_at: datetime) -> Ticker:
    symbol = str(ticker["symbol"])
    last = ticker.get("last")
    if last is None:
        last = ticker.get("close")
    return Ticker(
        symbol=symbol,
        last=to_decimal(last, f"{symbol} last price"),
        bid=positive_or_none(ticker.get("bid"), "bid"),
        ask=positive_or_none(ticker.get("ask"), "ask"),
        ts=optional_millis(ticker.get("timestamp")) or received_at,
    )


def _levels(rows: Sequence[Sequence[Any]]) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple(
        (to_decimal(row[0], "book price"), to_decimal(row[1], "book amount")) for row in rows
    )


def parse_order_book(symbol: str, book: Mapping[str, Any]) -> OrderBook:
    return OrderBook(
        symbol=str(book.get("symbol") or symbol),
        bids=_levels(book.get("bids") or ()),
        asks=_levels(book.get("asks") or ()),
        ts=optional_millis(book.get("timestamp")),
    )


def parse_candle(row: Sequence[Any]) -> CandleData:
    return CandleData(
        ts=from_millis(row[0]),
        open=to_decimal(row[1], "open"),
        high=to_decimal(row[2], "high"),
        low=to_decimal(row[3], "low"),
        close=to_decimal(row[4], "close"),
        volume=to_decimal(row[5] if row[5] is not None else 0, "volume"),
    )


def parse_balances(balance: Mapping[str, Any]) -> dict[str, Balance]:
    """Currencies with a non-zero total (Binance lists hundreds of empty ones)."""
    free_by_currency = balance.get("free") or {}
    used_by_currency = balance.get("used") or {}
    result: dict[str, Balance] = {}
    for currency in sorted(set(free_by_currency) | set(used_by_currency)):
        free = optional_decimal(free_by_currency.get(currency), f"{currency} free") or Decimal(0)
        used = optional_decimal(used_by_currency.get(currency), f"{currency} used") or Decimal(0)
        if free or used:
            result[str(currency)] = Balance(currency=str(currency), free=free, used=used)
    return result


def parse_fee(fee: Mapping[str, Any] | None) -> Fee | None:
    if not fee or fee.get("cost") is None:
        return None
    currency = fee.get("currency")
    return Fee(cost=to_decimal(fee["cost"], "fee"), currency=str(currency) if currency else None)


_STATUSES = {status.value: status for status in ExchangeOrderStatus}


def parse_order(order: Mapping[str, Any]) -> ExchangeOrder:
    order_id = order.get("id")
    if order_id is None or order_id == "":
        raise MalformedResponse("order without an exchange id")
    symbol = str(order["symbol"])
    side = order.get("side")
    if side not in ("buy", "sell"):
        raise MalformedResponse(f"order {order_id} has an unknown side {side!r}")
    price = positive_or_none(order.get("price"), "price")
    return ExchangeOrder(
        exchange_order_id=str(order_id),
        client_order_id=order.get("clientOrderId") or None,
        symbol=symbol,
        side=Side(side),
        # limit_maker, stop_limit, ... are limit orders as far as our grid is concerned
        type=OrderType.MARKET if order.get("type") == "market" else OrderType.LIMIT,
        # An unknown status is reported as OPEN, never as a terminal state we cannot prove.
        status=_STATUSES.get(str(order.get("status")), ExchangeOrderStatus.OPEN),
        amount=to_decimal(order.get("amount"), f"order {order_id} amount"),
        filled=optional_decimal(order.get("filled"), "filled") or Decimal(0),
        price=price,
        average_price=positive_or_none(order.get("average"), "average price"),
        ts=optional_millis(order.get("timestamp")),
        fee=parse_fee(order.get("fee")),
    )


def parse_trade(trade: Mapping[str, Any]) -> ExchangeTrade:
    trade_id = trade.get("id")
    if trade_id is None:
        raise MalformedResponse("trade without an id")
    if trade.get("timestamp") is None:
        raise MalformedResponse(f"trade {trade_id} without a timestamp")
    side = trade.get("side")
    if side not in ("buy", "sell"):
        raise MalformedResponse(f"trade {trade_id} has an unknown side {side!r}")
    order_id = trade.get("order")
    if not order_id:
        raise MalformedResponse(f"trade {trade_id} without an order id")
    maker = trade.get("takerOrMaker")
    return ExchangeTrade(
        trade_id=str(trade_id),
        exchange_order_id=str(order_id),
        client_order_id=(trade.get("info") or {}).get("clientOrderId") or None,
        symbol=str(trade["symbol"]),
        side=Side(side),
        price=to_decimal(trade.get("price"), f"trade {trade_id} price"),
        amount=to_decimal(trade.get("amount"), f"trade {trade_id} amount"),
        fee=parse_fee(trade.get("fee")),
        ts=from_millis(trade["timestamp"]),
        is_maker=None if maker is None else maker == "maker",
    )


def parse_binance_api_restrictions(response: Mapping[str, Any]) -> KeyPermissions:
    """GET /sapi/v1/account/apiRestrictions. A missing flag counts against the key (fail closed)."""
    raw = {name: bool(value) for name, value in response.items() if isinstance(value, bool)}
    return KeyPermissions(
        can_trade=raw.get("enableSpotAndMarginTrading", False),
        can_withdraw=raw.get("enableWithdrawals", True),
        raw=raw,
    )
