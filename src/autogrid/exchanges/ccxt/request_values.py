"""Our request values as ccxt takes them: exact floats, epoch milliseconds, an order's reference."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def exact_float(value: Decimal, what: str) -> float:
    """ccxt wants floats; refuse any value the float would not carry exactly to the wire."""
    number = float(value)
    if Decimal(str(number)) != value:
        raise ValueError(f"{what} {value} cannot be sent exactly")
    return number


def millis(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # .timestamp() would silently read it as local time
        raise ValueError("pass an aware datetime (UTC)")
    return int(moment.timestamp() * 1000)


def order_reference(
    exchange_order_id: str | None, client_order_id: str | None
) -> tuple[str | None, dict[str, str]]:
    """ccxt's (id, params) for "this order": the exchange id, else ``clientOrderId`` (Binance
    sends it as origClientOrderId)."""
    if exchange_order_id:
        return exchange_order_id, {}
    if client_order_id:
        return None, {"clientOrderId": client_order_id}
    raise ValueError("give exchange_order_id or client_order_id")
