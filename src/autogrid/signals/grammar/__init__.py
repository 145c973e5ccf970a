"""PLACEHOLDER grammar: a minimal JSON-only ``parse_signal``, to be replaced by the full grammar
(TradingView, 3Commas, key=value and free text) when that work is merged.

It keeps the full grammar's signature and contract: it returns a ``ParsedSignal`` or raises
``SignalParseError(message, position)``, and nothing else, for any input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from autogrid.signals.model import ParsedSignal, SignalAction, SignalParseError

__all__ = ["ParsedSignal", "SignalParseError", "parse_signal"]


def parse_signal(
    body: str, *, default_symbol: str | None = None, now: datetime | None = None
) -> ParsedSignal:
    del now  # the full grammar resolves relative times with it
    try:
        value: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        raise SignalParseError(f"not JSON: {exc.msg}", exc.pos) from None
    except (ValueError, RecursionError):
        raise SignalParseError("not JSON", 0) from None
    if not isinstance(value, dict):
        raise SignalParseError("expected a JSON object", 0)
    action_text = str(value.get("action", "")).strip().lower()
    try:
        action = SignalAction(action_text)
    except ValueError:
        raise SignalParseError(f"unknown action {action_text!r}", _at(body, "action")) from None
    symbol = value.get("symbol", default_symbol)
    return ParsedSignal(
        action=action,
        format="json",
        symbol=str(symbol) if symbol is not None else None,
        price=_decimal(value.get("price"), body),
        alert_id=_text(value.get("alert_id")),
        sent_at=_time(value.get("timestamp"), body),
        max_lag_seconds=_int(value.get("max_lag"), body),
    )


def _at(body: str, key: str) -> int:
    return max(body.find(f'"{key}"'), 0)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:200]


def _decimal(value: Any, body: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise SignalParseError("price is not a number", _at(body, "price")) from None
    if not number.is_finite() or number <= 0:
        raise SignalParseError("price must be a positive number", _at(body, "price"))
    return number


def _int(value: Any, body: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise SignalParseError("max_lag must be whole seconds", _at(body, "max_lag"))
    return int(value)


def _time(value: Any, body: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SignalParseError("timestamp is not ISO 8601", _at(body, "timestamp")) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
