"""The small values every grammar reads: numbers, percentages, symbols, times, JSON documents.

Each reader takes the raw text and the character position it came from, so that a refusal points
at the fault in the original body. Numbers stay Decimal from the first character: a price is never
a float, not even for a moment.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from autogrid.signals.model import SignalParseError

# Bounds that no real price or size reaches, but that keep absurd inputs (a 5,000-digit number, an
# exponent that allocates gigabytes) out of the arithmetic further down.
MAX_INTEGER_DIGITS = 20
MAX_FRACTION_DIGITS = 18
MAX_SYMBOL_PART = 15

# ASCII digits only: \d and str.isdigit() also accept Arabic-Indic and superscript digits.
_NUMBER = re.compile(r"\+?([0-9]+)(?:\.([0-9]+))?|\+?\.([0-9]+)")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")
_SYMBOL_PART = re.compile(r"[A-Z0-9]+")
_PAIR_SEPARATORS = re.compile(r"[/\-_:]")

# Quote currencies tried longest first, so that "BTCUSDT" is BTC/USDT and not BTCUS/DT or BTC/USD.
_QUOTE_LIST: tuple[str, ...] = (
    "USDT",
    "USDC",
    "BUSD",
    "FDUSD",
    "TUSD",
    "USDP",
    "DAI",
    "USD",
    "EUR",
    "GBP",
)
_QUOTE_LIST += ("TRY", "BRL", "AUD", "JPY", "UAH", "BTC", "ETH", "BNB")
KNOWN_QUOTES: tuple[str, ...] = tuple(sorted(_QUOTE_LIST, key=len, reverse=True))


class JsonNumber(str):
    """A JSON number kept as its literal text, so it never passes through float."""

    __slots__ = ()


def parse_decimal(raw: str, position: int, what: str) -> Decimal:
    """A plain decimal literal (no exponent, no sign other than +), within the digit bounds."""
    text = raw.strip()
    offset = position + (len(raw) - len(raw.lstrip()))
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise SignalParseError(f"{what}: {_show(raw)} is not a number", offset)
    integer = match.group(1) or ""
    fraction = match.group(2) or match.group(3) or ""
    if len(integer.lstrip("0")) > MAX_INTEGER_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise SignalParseError(
            f"{what}: {_show(raw)} has more digits than any price or size "
            f"(at most {MAX_INTEGER_DIGITS} before and {MAX_FRACTION_DIGITS} after the point)",
            offset,
        )
    return Decimal(text.lstrip("+"))


def parse_positive(raw: str, position: int, what: str) -> Decimal:
    value = parse_decimal(raw, position, what)
    if value <= 0:
        raise SignalParseError(f"{what} must be positive, not {_show(raw)}", position)
    return value


def check_percent(value: Decimal, position: int, what: str) -> Decimal:
    if not Decimal(0) < value <= Decimal(100):
        raise SignalParseError(f"{what} must be a percentage above 0 and at most 100", position)
    return value


def normalise_symbol(raw: str, position: int) -> str:
    """'btc/usdt', 'BTC-USDT', 'BINANCE:BTCUSDT', '#BTCUSDT' -> 'BTC/USDT'."""
    text = raw.strip().lstrip("#$").upper()
    if ":" in text and "/" not in text:
        # TradingView's {{exchange}}:{{ticker}} prefix: the token, not the body, picks the exchange.
        text = text.rsplit(":", 1)[1]
    if text.endswith(".P"):
        raise SignalParseError(
            f"symbol {_show(raw)} is a perpetual contract; only spot pairs are traded", position
        )
    parts = _PAIR_SEPARATORS.split(text)
    if len(parts) == 1:
        parts = _split_known_quote(text, raw, position)
    if len(parts) != 2:
        raise SignalParseError(f"symbol {_show(raw)} is not a BASE/QUOTE pair", position)
    base, quote = parts
    for part in (base, quote):
        if not _SYMBOL_PART.fullmatch(part) or len(part) > MAX_SYMBOL_PART:
            raise SignalParseError(f"symbol {_show(raw)} is not a BASE/QUOTE pair", position)
    if base == quote:
        raise SignalParseError(f"symbol {_show(raw)} trades a currency against itself", position)
    return f"{base}/{quote}"


def _split_known_quote(text: str, raw: str, position: int) -> list[str]:
    for quote in KNOWN_QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            return [text[: -len(quote)], quote]
    raise SignalParseError(
        f"symbol {_show(raw)} has no separator and ends in no known quote currency; "
        "write it as BASE/QUOTE",
        position,
    )


def parse_time(raw: str, position: int) -> datetime:
    """ISO 8601 with an offset (TradingView's {{timenow}}), or Unix seconds or milliseconds."""
    text = raw.strip()
    if _DIGITS.fullmatch(text) and len(text) in (10, 13):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    if len(text) > 40:
        raise SignalParseError(f"time {_show(raw)} is not an ISO 8601 time", position)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SignalParseError(f"time {_show(raw)} is not an ISO 8601 time", position) from None
    if moment.tzinfo is None:
        raise SignalParseError(
            f"time {_show(raw)} has no time zone; add 'Z' or an offset such as +00:00", position
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved across midnight by its offset
        raise SignalParseError(f"time {_show(raw)} is out of range", position) from None


def parse_lag(raw: str, position: int) -> int:
    text = raw.strip()
    if not _DIGITS.fullmatch(text) or len(text) > 6 or int(text) == 0:
        raise SignalParseError(
            f"max_lag {_show(raw)} must be a whole number of seconds from 1 to 999999", position
        )
    return int(text)


def load_json(body: str, offset: int) -> dict[str, Any]:
    """A JSON object whose numbers are kept as text; a key given twice and NaN are refused."""
    try:
        document = json.loads(
            body,
            parse_float=JsonNumber,
            parse_int=JsonNumber,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as error:
        raise SignalParseError(f"invalid JSON: {error.msg}", offset + error.pos) from None
    except _RepeatedKey as error:
        raise SignalParseError(
            f"key {_show(error.key)} appears twice",
            offset + _key_position(body, error.key, _key_position(body, error.key) + 1),
        ) from None
    except _Constant as error:
        raise SignalParseError(
            f"{error.name} is not a number a signal can carry",
            offset + max(body.find(error.name), 0),
        ) from None
    except RecursionError:
        raise SignalParseError("JSON nested too deeply", offset) from None
    if not isinstance(document, dict):
        raise SignalParseError("a JSON signal must be an object ({...})", offset)
    return document


class _RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedKey(key)
        document[key] = value
    return document


class _Constant(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def _key_position(body: str, key: str, start: int = 0) -> int:
    found = body.find(json.dumps(key), start)
    return max(found, 0)


def key_position(body: str, key: str, offset: int, after: str | None = None) -> int:
    """Where `"key"` first appears in a JSON body (after `"after"` if given): JSON parsers drop
    positions, so a bad value is reported at its key."""
    start = _key_position(body, after) if after is not None else 0
    return offset + _key_position(body, key, start)


def json_text(value: Any, position: int, what: str) -> str:
    """A JSON value that must be a string or a number, as text."""
    if isinstance(value, str):
        return value
    raise SignalParseError(f"{what} must be a string or a number", position)


def _show(raw: str) -> str:
    """The offending text, quoted and cut short: an error message must not echo a whole body."""
    text = raw if len(raw) <= 40 else raw[:37] + "..."
    return repr(text)
