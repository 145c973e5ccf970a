"""A real ccxt binance client wired to a simulator instead of api.binance.com."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    # Imported lazily below: ccxt takes a second or more to import, and the simulator process
    # (python -m tests.exchange_sim) never needs it.
    import ccxt.async_support as ccxt_async

# Only spot exchangeInfo on load_markets: no sapi currency/margin calls, no futures markets.
SIMULATOR_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchCurrencies": False,
    "fetchMargins": False,
    "adjustForTimeDifference": False,
    "fetchMarkets": {"types": ["spot"]},
}


def _rebase(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base``'s, keeping the API path."""
    target = urlsplit(base)
    parts = urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def point_at(exchange: ccxt_async.binance, sim_url: str) -> None:
    """Rewrite every API URL (spot and also futures/options/papi, so a stray call reaches the
    simulator and shows up in its unhandled-request log instead of the real exchange)."""
    for section in ("api", "test", "demo"):
        urls = exchange.urls.get(section)
        if isinstance(urls, dict):
            for name, url in urls.items():
                if isinstance(url, str) and url.startswith("http"):
                    urls[name] = _rebase(url, sim_url)


def make_ccxt_binance(
    sim_url: str,
    api_key: str | None = None,
    secret: str | None = None,
    *,
    timeout_ms: int = 10_000,
    enable_rate_limit: bool = False,
    **options: Any,
) -> ccxt_async.binance:
    """A ``ccxt.async_support.binance`` talking to the simulator at ``sim_url``.

    ``options`` extend/override ccxt's ``options`` (e.g. ``recvWindow=5000``). ccxt's own
    throttle is off by default so tests run fast; pass ``enable_rate_limit=True`` to keep it.
    Close it with ``await exchange.close()``.
    """
    import ccxt.async_support as ccxt_async

    from tests.exchange_sim.server import DEFAULT_API_KEY, DEFAULT_SECRET

    exchange = ccxt_async.binance(
        {
            "apiKey": DEFAULT_API_KEY if api_key is None else api_key,
            "secret": DEFAULT_SECRET if secret is None else secret,
            "timeout": timeout_ms,
            "enableRateLimit": enable_rate_limit,
            # ccxt waits this long in close() to let SSL transports shut down; plain local HTTP
            # has none, and 250 ms per client adds up over a test suite.
            "timeout_on_exit": 0,
            "options": {**SIMULATOR_OPTIONS, **options},
        }
    )
    point_at(exchange, sim_url)
    return exchange
