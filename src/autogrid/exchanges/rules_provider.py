"""Market rules for bot validation: the exchange's real markets, cached for every process.

When the exchange cannot be reached (no network, maintenance), validation makes do with the
market list it knew last, else with the paper exchange's built-in table of real Binance filters,
so paper bots can still be configured offline (the ``make run`` demo). Either list also answers
"no such market" (a 422 naming the symbol) rather than "try again later". Only an exchange with
neither list stays a 503. The cache remembers a failed load briefly, so none of this waits on
the network again. Orders are checked against the connector's own rules again when they are
placed, so a live bot never trades on a stale table.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from autogrid.bots.markets import MarketRulesProvider, UnknownMarket
from autogrid.core.config import Settings
from autogrid.core.redis import create_redis
from autogrid.exchanges import service
from autogrid.exchanges.api_errors import ExchangeUnavailable
from autogrid.exchanges.budget import create_budgets
from autogrid.exchanges.catalog import ExchangeInfo
from autogrid.exchanges.market_data_cache import MarketDataCache, create_market_data_cache
from autogrid.exchanges.paper.markets import builtin_markets
from autogrid.exchanges.pool import ConnectorPool, configured_ccxt_factory
from autogrid.exchanges.types import MarketRules

logger = logging.getLogger(__name__)


def exchange_market_rules(pool: ConnectorPool, cache: MarketDataCache) -> MarketRulesProvider:
    async def provider(exchange: str, symbol: str) -> MarketRules:
        info = await service.get_exchange(exchange)
        try:
            loaded = await service.load_markets(pool, cache, info)
        except ExchangeUnavailable as unavailable:
            rules = await _offline_rules(cache, info, symbol)
            if rules is None:
                raise unavailable from None
            return rules
        rules = loaded.markets.get(symbol)
        if rules is None:
            raise UnknownMarket(f"{info.exchange_id} has no market {symbol}")
        return rules

    return provider


@asynccontextmanager
async def worker_market_rules(settings: Settings) -> AsyncIterator[MarketRulesProvider]:
    """``exchange_market_rules`` for a worker's task, as the API has it: the markets cached in
    Redis for every process (a load only when none is), the request budgets shared. Nothing is
    loaded until the provider is asked."""
    redis = create_redis(settings)
    budgets = create_budgets(redis, settings.redis_key_prefix)
    pool = ConnectorPool(configured_ccxt_factory(budgets, settings))
    cache = create_market_data_cache(settings, redis)
    try:
        yield exchange_market_rules(pool, cache)
    finally:
        await pool.close_all()
        if redis is not None:
            await redis.aclose()


async def _offline_rules(
    cache: MarketDataCache, info: ExchangeInfo, symbol: str
) -> MarketRules | None:
    """The rules of ``symbol`` from a list known without the network; None if there is none.

    Raises ``UnknownMarket`` when a list is known and lacks the symbol.
    """
    exchange_id = info.exchange_id
    last_known = await cache.last_known_markets(exchange_id)
    if last_known is not None:
        rules = last_known.markets.get(symbol)
        if rules is None:
            raise UnknownMarket(
                f"{exchange_id} has no market {symbol} (its market list of "
                f"{last_known.loaded_at:%Y-%m-%d %H:%M} UTC; {exchange_id} is not answering now)"
            )
        logger.info("%s unreachable: validating %s with its last known list", exchange_id, symbol)
        return rules
    builtin = builtin_markets(exchange_id)
    if not builtin:
        return None
    rules = builtin.get(symbol)
    if rules is None:
        raise UnknownMarket(
            f"{exchange_id} is not answering and {symbol} is not one of the markets known "
            f"offline ({', '.join(sorted(builtin))})"
        )
    logger.info("%s unreachable: validating %s with built-in rules", exchange_id, symbol)
    return rules
