"""What ccxt says each exchange can do, read from its ``has`` and ``urls`` without any network."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ccxt

# The unified methods a trading bot relies on, in ccxt's own spelling.
CAPABILITY_NAMES = (
    "fetchTicker",
    "fetchOrderBook",
    "fetchOHLCV",
    "fetchBalance",
    "createOrder",
    "cancelOrder",
    "fetchOrder",
    "fetchOpenOrders",
    "fetchMyTrades",
)


@dataclass(frozen=True, slots=True)
class CcxtDescription:
    exchange_id: str
    name: str
    capabilities: dict[str, bool]
    sandbox: bool


def ccxt_exchange_ids() -> tuple[str, ...]:
    return tuple(ccxt.exchanges)


def _available(value: Any) -> bool:
    # ccxt: True, False, None (unknown) or "emulated" (built from other calls; still usable).
    return value is True or value == "emulated"


def describe(exchange_id: str) -> CcxtDescription:
    # The synchronous class: instantiating it opens no session and no connection.
    exchange = getattr(ccxt, exchange_id)()
    has: dict[str, Any] = exchange.has
    return CcxtDescription(
        exchange_id=exchange_id,
        name=str(exchange.name or exchange_id),
        capabilities={name: _available(has.get(name)) for name in CAPABILITY_NAMES},
        sandbox=bool(exchange.urls.get("test")),  # several exchanges list "test": None
    )


def lists_order_trades(has: dict[str, Any]) -> bool:
    """Whether ccxt asks the exchange itself for one order's trades (Binance ``myTrades?orderId``).
    An "emulated" ``fetchOrderTrades`` does not count: it needs the order's trade ids (Kraken) or
    filters the account's history, which is what the caller's fallback does already."""
    return has.get("fetchOrderTrades") is True
