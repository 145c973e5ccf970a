"""A parsed signal as stored JSON (decimals as strings, times in ISO 8601): pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from autogrid.signals.model import (
    Amount,
    AmountUnit,
    EntryZone,
    OrderKind,
    ParsedSignal,
    SignalAction,
    TakeProfit,
)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def signal_json(signal: ParsedSignal) -> dict[str, Any]:
    plain: dict[str, Any] = _plain(asdict(signal))
    return plain


def signal_from_json(data: Mapping[str, Any]) -> ParsedSignal:
    """The parsed signal ``signal_json`` stored (a bot's step acts on it)."""
    amount, zone = data.get("amount"), data.get("entry_zone")
    sent_at = data.get("sent_at")
    return ParsedSignal(
        action=SignalAction(data["action"]),
        format=str(data.get("format") or ""),
        symbol=data.get("symbol"),
        order_kind=OrderKind(data.get("order_kind") or OrderKind.MARKET),
        price=_decimal(data.get("price")),
        amount=None
        if amount is None
        else Amount(Decimal(amount["value"]), AmountUnit(amount["unit"])),
        entry_zone=None if zone is None else EntryZone(Decimal(zone["low"]), Decimal(zone["high"])),
        stop_loss=_decimal(data.get("stop_loss")),
        take_profits=tuple(
            TakeProfit(Decimal(step["price"]), _decimal(step.get("share_percent")))
            for step in data.get("take_profits") or ()
        ),
        alert_id=data.get("alert_id"),
        sent_at=None if sent_at is None else datetime.fromisoformat(sent_at),
        max_lag_seconds=data.get("max_lag_seconds"),
        tag=data.get("tag"),
    )


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
