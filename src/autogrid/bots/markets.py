"""Where bot validation gets an exchange's market rules and learns which exchanges exist.

``MarketRulesProvider`` is the swappable part: ``app.state.market_rules_provider`` if set (the
exchange layer installs one that loads the real markets), else ``conservative_market_rules``.
It raises ``UnknownMarket`` (a 422 naming the symbol) for a symbol the exchange does not list,
also when that list is only known offline; a temporary exchange error with no list to go by
(``autogrid.exchanges.errors.TemporaryExchangeError``) becomes a 503.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from autogrid.exchanges.types import MarketRules

if TYPE_CHECKING:
    from autogrid.exchanges.catalog import ExchangeInfo


class UnknownMarket(LookupError):
    """The exchange does not list this symbol (or no longer trades it)."""


class MarketRulesProvider(Protocol):
    async def __call__(self, exchange: str, symbol: str) -> MarketRules: ...


# Quote currencies worth about one US dollar: a 10-unit minimum order cost is the common
# exchange floor (Binance's is 5 USDT). Other quotes (BTC, ETH...) get no cost floor by default.
_DOLLAR_LIKE = frozenset({"USDT", "USDC", "FDUSD", "TUSD", "DAI", "BUSD", "USD", "EUR", "GBP"})
DEFAULT_MIN_COST = Decimal(10)
DEFAULT_STEP = Decimal("0.00000001")
DEFAULT_FEE = Decimal("0.001")


async def conservative_market_rules(exchange: str, symbol: str) -> MarketRules:
    """Rules that hold on every listed exchange's major spot markets, without any network call:
    8-decimal amounts and prices, a 0.1% maker/taker fee, and a 10-unit minimum order cost for
    dollar-like quotes. Used until the exchange layer provides the real markets."""
    base, _, quote = symbol.partition("/")
    return MarketRules(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=DEFAULT_STEP,
        price_tick=DEFAULT_STEP,
        min_cost=DEFAULT_MIN_COST if quote in _DOLLAR_LIKE else Decimal(0),
        maker_fee=DEFAULT_FEE,
        taker_fee=DEFAULT_FEE,
    )


async def lookup_exchange(exchange_id: str) -> ExchangeInfo | None:
    """The catalog entry of ``exchange_id`` (aliases resolved), or None if ccxt has no such id.

    The catalog imports ccxt and describes every exchange once (about a second, then cached), so
    it is loaded lazily and off the event loop: the API starts fast and keeps serving meanwhile.
    """
    from autogrid.exchanges.catalog import exchange_info

    return await asyncio.to_thread(exchange_info, exchange_id)
