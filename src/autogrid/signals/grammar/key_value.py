"""KEY=VALUE signals, one pair a line or separated by ';' (OctoBot's TradingView alert format).

Grammar (keys are case-insensitive, blanks around '=' and separators are ignored)::

    body    = item { ( "\\n" | ";" ) item }
    item    = [ key "=" value ]            (* an empty item is skipped *)
    key     = letter { letter | digit | "_" }
    value   = any characters up to the next separator

Keys understood:

    SIGNAL=BUY | SELL                     required: enter a long, or sell (part of) it
    SYMBOL=BTCUSDT | BTC/USDT             pair; TradingView's {{ticker}} is split at its quote
    ORDER_TYPE=MARKET | LIMIT             default MARKET; LIMIT needs PRICE
    VOLUME=0.01 | 5%                      base amount, or percent of the free balance
    PRICE=65000                           limit price (with MARKET: the price the sender saw)
    STOP_PRICE=63000                      stop loss
    TAKE_PROFIT_PRICE=67000               one take-profit, or numbered ones:
    TAKE_PROFIT_PRICE_1=67000             ... _1 to _10
    TAKE_PROFIT_VOLUME_PERCENT_1=50       share of the position that step closes
    TAG=my-strategy                       a label carried to the outcome
    ID=alert-42                           the sender's id, used to drop repeats
    TIMESTAMP=2026-12-06T15:00:00Z        when it fired; MAX_LAG=60 refuses it later than that
    EXCHANGE=binance, REDUCE_ONLY=false   read and ignored: the token chooses bot and exchange

Example::

    EXCHANGE=binance;SYMBOL=BTCUSDT;SIGNAL=BUY;ORDER_TYPE=LIMIT;PRICE=65000;VOLUME=2%
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from autogrid.signals.grammar import values
from autogrid.signals.grammar.validate import finish
from autogrid.signals.model import (
    Amount,
    AmountUnit,
    OrderKind,
    ParsedSignal,
    SignalAction,
    SignalParseError,
    TakeProfit,
)

FORMAT = "key_value"
_ITEM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*(.*?)\s*", re.DOTALL)
_LOOKS_LIKE = re.compile(r"\s*[A-Za-z][A-Za-z0-9_]*\s*=")
_NUMBERED_TP = re.compile(r"TAKE_PROFIT_(PRICE|VOLUME_PERCENT)_([0-9]{1,2})")
_IGNORED = frozenset({"EXCHANGE", "REDUCE_ONLY"})
_SIMPLE = frozenset(
    {
        "SIGNAL",
        "SYMBOL",
        "ORDER_TYPE",
        "VOLUME",
        "PRICE",
        "STOP_PRICE",
        "TAKE_PROFIT_PRICE",
        "TAG",
        "ID",
        "TIMESTAMP",
        "MAX_LAG",
    }
)
MAX_TEXT_VALUE = 100


def looks_like(body: str) -> bool:
    """The first non-blank item is KEY=..."""
    first = next((line for line in re.split(r"[\n;]", body) if line.strip()), "")
    return _LOOKS_LIKE.match(first) is not None


def _items(body: str) -> Iterator[tuple[str, str, int, int]]:
    """(KEY, value, key position, value position) for each non-empty item."""
    start = 0
    for match in re.finditer(r"[\n;]|$", body):
        chunk = body[start : match.start()]
        if chunk.strip():
            item = _ITEM.fullmatch(chunk)
            if item is None:
                at = start + len(chunk) - len(chunk.lstrip())
                raise SignalParseError("expected KEY=VALUE", at)
            yield item.group(1).upper(), item.group(2), start + item.start(1), start + item.start(2)
        start = match.end()


def parse(body: str, *, default_symbol: str | None, now: datetime | None) -> ParsedSignal:
    fields: dict[str, tuple[str, int]] = {}
    numbered: dict[tuple[str, int], tuple[str, int]] = {}
    key_at: dict[str, int] = {}
    for key, value, key_pos, value_pos in _items(body):
        if key in fields or key in key_at:
            raise SignalParseError(f"{key} is given twice", key_pos)
        key_at[key] = key_pos
        tp = _NUMBERED_TP.fullmatch(key)
        if tp is not None:
            numbered[(tp.group(1), int(tp.group(2)))] = (value, value_pos)
        elif key in _SIMPLE:
            fields[key] = (value, value_pos)
        elif key not in _IGNORED:
            raise SignalParseError(f"unknown key {key}", key_pos)
    if "SIGNAL" not in fields:
        raise SignalParseError("SIGNAL=BUY or SIGNAL=SELL is required", 0)
    built: dict[str, Any] = {"format": FORMAT}
    positions: dict[str, int] = {}
    _read_action(fields, built, positions)
    _read_symbol(fields, built, positions, default_symbol)
    _read_order(fields, built, positions)
    _read_take_profits(fields, numbered, built, positions)
    _read_meta(fields, built, positions)
    return finish(ParsedSignal(**built), positions, now)


def _read_action(
    fields: dict[str, tuple[str, int]], built: dict[str, Any], positions: dict[str, int]
) -> None:
    raw, at = fields["SIGNAL"]
    actions = {"BUY": SignalAction.BUY, "SELL": SignalAction.SELL}
    action = actions.get(raw.upper())
    if action is None:
        raise SignalParseError(f"SIGNAL must be BUY or SELL, not {raw[:20]!r}", at)
    built["action"] = action
    positions["action"] = at


def _read_symbol(
    fields: dict[str, tuple[str, int]],
    built: dict[str, Any],
    positions: dict[str, int],
    default_symbol: str | None,
) -> None:
    if "SYMBOL" in fields:
        raw, at = fields["SYMBOL"]
        built["symbol"] = values.normalise_symbol(raw, at)
        positions["symbol"] = at
    else:
        built["symbol"] = default_symbol


def _read_order(
    fields: dict[str, tuple[str, int]], built: dict[str, Any], positions: dict[str, int]
) -> None:
    if "ORDER_TYPE" in fields:
        raw, at = fields["ORDER_TYPE"]
        kinds = {"MARKET": OrderKind.MARKET, "LIMIT": OrderKind.LIMIT}
        if raw.upper() not in kinds:
            raise SignalParseError(f"ORDER_TYPE must be MARKET or LIMIT, not {raw[:20]!r}", at)
        built["order_kind"] = kinds[raw.upper()]
        positions["order_kind"] = at
    if "PRICE" in fields:
        raw, at = fields["PRICE"]
        built["price"] = values.parse_positive(raw, at, "PRICE")
        positions["price"] = at
    if "STOP_PRICE" in fields:
        raw, at = fields["STOP_PRICE"]
        built["stop_loss"] = values.parse_positive(raw, at, "STOP_PRICE")
        positions["stop_loss"] = at
    if "VOLUME" in fields:
        raw, at = fields["VOLUME"]
        built["amount"] = parse_volume(raw, at)
        positions["amount"] = at


def parse_volume(raw: str, at: int) -> Amount:
    text = raw.strip()
    if text.endswith("%"):
        if text[-2:-1].isalpha():
            raise SignalParseError(
                f"VOLUME {text[:20]!r}: only a flat amount or a plain % of the free balance", at
            )
        value = values.parse_positive(text[:-1], at, "VOLUME")
        return Amount(values.check_percent(value, at, "VOLUME"), AmountUnit.PERCENT)
    return Amount(values.parse_positive(text, at, "VOLUME"), AmountUnit.BASE)


def _read_take_profits(
    fields: dict[str, tuple[str, int]],
    numbered: dict[tuple[str, int], tuple[str, int]],
    built: dict[str, Any],
    positions: dict[str, int],
) -> None:
    steps: list[TakeProfit] = []
    if "TAKE_PROFIT_PRICE" in fields:
        if numbered:
            raw, at = fields["TAKE_PROFIT_PRICE"]
            raise SignalParseError("use TAKE_PROFIT_PRICE or numbered ones, not both", at)
        raw, at = fields["TAKE_PROFIT_PRICE"]
        steps.append(TakeProfit(values.parse_positive(raw, at, "TAKE_PROFIT_PRICE")))
        positions["take_profits"] = at
    indexes = sorted({index for _, index in numbered})
    for index in indexes:
        if ("PRICE", index) not in numbered:
            raw, at = numbered[("VOLUME_PERCENT", index)]
            raise SignalParseError(f"TAKE_PROFIT_VOLUME_PERCENT_{index} has no price", at)
        raw, at = numbered[("PRICE", index)]
        positions.setdefault("take_profits", at)
        price = values.parse_positive(raw, at, f"TAKE_PROFIT_PRICE_{index}")
        share = None
        if ("VOLUME_PERCENT", index) in numbered:
            raw, at = numbered[("VOLUME_PERCENT", index)]
            share = values.check_percent(
                values.parse_decimal(raw, at, "take-profit share"), at, "take-profit share"
            )
        steps.append(TakeProfit(price, share))
    built["take_profits"] = tuple(steps)


def _read_meta(
    fields: dict[str, tuple[str, int]], built: dict[str, Any], positions: dict[str, int]
) -> None:
    for key, name in (("TAG", "tag"), ("ID", "alert_id")):
        if key in fields:
            raw, at = fields[key]
            if not raw or len(raw) > MAX_TEXT_VALUE:
                raise SignalParseError(f"{key} must be 1 to {MAX_TEXT_VALUE} characters", at)
            built[name] = raw
    if "TIMESTAMP" in fields:
        raw, at = fields["TIMESTAMP"]
        built["sent_at"] = values.parse_time(raw, at)
        positions["sent_at"] = at
    if "MAX_LAG" in fields:
        raw, at = fields["MAX_LAG"]
        built["max_lag_seconds"] = values.parse_lag(raw, at)


def render(signal: ParsedSignal) -> str:
    """The KEY=VALUE text that parses back to `signal` (for buy and sell signals)."""
    lines = [f"SIGNAL={signal.action.value.upper()}"]
    if signal.symbol is not None:
        lines.append(f"SYMBOL={signal.symbol}")
    lines.append(f"ORDER_TYPE={signal.order_kind.value.upper()}")
    if signal.price is not None:
        lines.append(f"PRICE={signal.price:f}")
    if signal.amount is not None:
        suffix = "%" if signal.amount.unit is AmountUnit.PERCENT else ""
        lines.append(f"VOLUME={signal.amount.value:f}{suffix}")
    if signal.stop_loss is not None:
        lines.append(f"STOP_PRICE={signal.stop_loss:f}")
    for index, step in enumerate(signal.take_profits, start=1):
        lines.append(f"TAKE_PROFIT_PRICE_{index}={step.price:f}")
        if step.share_percent is not None:
            lines.append(f"TAKE_PROFIT_VOLUME_PERCENT_{index}={step.share_percent:f}")
    for key, value in (("TAG", signal.tag), ("ID", signal.alert_id)):
        if value is not None:
            lines.append(f"{key}={value}")
    if signal.sent_at is not None:
        lines.append(f"TIMESTAMP={signal.sent_at.isoformat()}")
    if signal.max_lag_seconds is not None:
        lines.append(f"MAX_LAG={signal.max_lag_seconds}")
    return "\n".join(lines)
