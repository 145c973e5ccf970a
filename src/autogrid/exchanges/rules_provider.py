"""Market rules for bot validation: the exchange's real markets, cached for every process.

When the exchange cannot be reached (no network, maintenance), the paper exchange's built-in table
of real Binance filters answers for the symbols it knows, so paper bots can still be configured
offline (the ``make run`` demo). Orders are checked against the connector's own rules again when
they are placed, so a live bot never trades on a stale table.
"""

from __future__ import annotations

import logging

from autogrid.bots.markets import MarketRulesProvider, UnknownMarket
from autogrid.exchanges import service
from autogrid.exchanges.api_errors import ExchangeUnavailable
from autogrid.exchanges.paper.markets import builtin_markets
from autogrid.exchanges.pool import ConnectorPool
from autogrid.exchanges.types import MarketRules

logger = logging.getLogger(__name__)


def exchange_market_rules(
    pool: ConnectorPool, cache: service.MarketDataCache
) -> MarketRulesProvider:
    async def provider(exchange: str, symbol: str) -> MarketRules:
        info = await service.get_exchange(exchange)
        try:
            loaded = await service.load_markets(pool, cache, info)
        except ExchangeUnavailable:
            fallback = builtin_markets(info.exchange_id).get(symbol)
            if fallback is None:
                raise
            logger.info("%s unreachable: validating %s with built-in rules", exchange, symbol)
            return fallback
        rules = loaded.markets.get(symbol)
        if rules is None:
            raise UnknownMarket(f"{info.exchange_id} has no spot market {symbol}")
        return rules

    return provider
