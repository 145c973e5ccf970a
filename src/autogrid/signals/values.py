"""A parsed signal as stored JSON (decimals as strings, times in ISO 8601): pure."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from autogrid.signals.model import ParsedSignal


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
