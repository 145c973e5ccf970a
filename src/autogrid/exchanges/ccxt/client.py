"""Building the ccxt client of one exchange account: our options and quirks as data, the wire
logger that never passes a signed request on, the sandbox and API URL overrides, and the shared
request budget's rate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

import ccxt.async_support as ccxt_async

from autogrid.exchanges.budget import BudgetSpec
from autogrid.exchanges.ccxt.hooks import hooked_exchange_class
from autogrid.exchanges.types import ApiCredentials

# ccxt logs every request (signed URL, api-key header) and response at DEBUG on the logger it is
# given. It gets this one, which never passes DEBUG on, whatever the application's log level.
_CCXT_WIRE_LOGGER = logging.getLogger("autogrid.exchanges.ccxt.wire")
_CCXT_WIRE_LOGGER.setLevel(logging.INFO)

# ccxt must never retry on its own: a silently retried create could place an order twice.
_COMMON_OPTIONS: dict[str, Any] = {"maxRetriesOnFailure": 0}
# Exchange quirks as data. We trade spot only, so markets of other types are not even loaded.
EXCHANGE_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "defaultType": "spot",
        "fetchMarkets": {"types": ["spot"]},
        "fetchCurrencies": False,  # a signed sapi call on every load_markets, for nothing we use
        "fetchMargins": False,  # two sapi margin-pair calls per load_markets; we trade spot only
        "warnOnFetchOpenOrdersWithoutSymbol": False,
    },
}


@cache
def budget_spec_for(exchange_id: str) -> BudgetSpec:
    """The shared budget equals ccxt's own per-instance rate (weight 1 per ``rateLimit`` ms)."""
    # rateLimit comes from describe(), so it needs an instance (no session, no network).
    rate_limit_ms = float(getattr(ccxt_async, exchange_id)().rateLimit or 2000)
    rate = 1000.0 / rate_limit_ms
    return BudgetSpec(rate=rate, burst=max(1.0, rate))


def new_client(
    exchange_id: str,
    credentials: ApiCredentials | None,
    *,
    sandbox: bool,
    timeout_ms: int,
    api_urls: Mapping[str, str] | None,
) -> Any:
    """The hooked ccxt client (see hooks.py), its budget not yet attached."""
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": timeout_ms,
        "logger": _CCXT_WIRE_LOGGER,
        "options": {**_COMMON_OPTIONS, **EXCHANGE_OPTIONS.get(exchange_id, {})},
    }
    if credentials is not None:
        config.update(apiKey=credentials.api_key, secret=credentials.secret)
        if credentials.passphrase:
            config["password"] = credentials.passphrase
    exchange = hooked_exchange_class(exchange_id)(config)
    if sandbox:
        if not exchange.urls.get("test"):  # some list the key with a None value
            raise ValueError(f"{exchange_id} has no sandbox/testnet")
        exchange.set_sandbox_mode(True)
    if api_urls:
        if isinstance(exchange.urls["api"], dict):
            exchange.urls["api"] = {**exchange.urls["api"], **api_urls}
        else:
            exchange.urls["api"] = next(iter(api_urls.values()))
    return exchange
