"""/api/v1/exchanges: the exchange catalog, and public market data (markets, ticker, candles).

The catalog (``GET /exchanges`` and ``GET /exchanges/{id}``) is public: it is static metadata read
from the installed ccxt, makes no outbound call and holds nothing about anyone. Markets, tickers
and candles need a logged-in user and are rate limited per user, because each may make the
server call an exchange, spending the request budget every user and bot shares.

Connectors come from ``app.state.connector_pool`` (tests replace it with one whose factory points
at the exchange simulator); the markets cache lives on ``app.state.market_data_cache``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from autogrid.api.deps import DatabaseDep
from autogrid.auth.dependencies import CurrentUser
from autogrid.core.errors import ErrorResponse
from autogrid.core.ratelimit import RateLimiterDep, enforce_rate_limit
from autogrid.exchanges import service
from autogrid.exchanges.budget import create_budgets
from autogrid.exchanges.catalog import ExchangeInfo
from autogrid.exchanges.market_data_cache import MarketDataCache, create_market_data_cache
from autogrid.exchanges.pool import ConnectorPool, configured_ccxt_factory
from autogrid.exchanges.schemas import (
    CandleList,
    CandleRead,
    ExchangeList,
    ExchangeListQuery,
    ExchangeRead,
    MarketList,
    MarketRead,
    MarketsQuery,
    OhlcvQuery,
    TickerQuery,
    TickerRead,
)

router = APIRouter(prefix="/exchanges", tags=["exchanges"])

# Requests per user and minute to the routes that may call an exchange.
MARKET_DATA_PER_MINUTE = 120
MARKET_DATA_STATE = "market_data_cache"


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


_EXCHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    502: _error("The exchange gave an unexpected answer"),
    503: _error("The exchange is unavailable or rate limited; Retry-After when known"),
}

ExchangeId = Annotated[str, Path(max_length=64, description="ccxt exchange id, e.g. binance")]


def get_connector_pool(request: Request) -> ConnectorPool:
    state = request.app.state
    pool: ConnectorPool | None = getattr(state, "connector_pool", None)
    if pool is None:  # an app run without its lifespan: build the same pool it would
        budgets = create_budgets(state.redis, state.settings.redis_key_prefix)
        pool = ConnectorPool(configured_ccxt_factory(budgets, state.settings))
        state.connector_pool = pool
    return pool


def get_market_data_cache(request: Request) -> MarketDataCache:
    state = request.app.state
    cache: MarketDataCache | None = getattr(state, MARKET_DATA_STATE, None)
    if cache is None:  # built on first use; no await in between, so built once
        cache = create_market_data_cache(state.settings, getattr(state, "redis", None))
        setattr(state, MARKET_DATA_STATE, cache)
    return cache


async def limit_market_data(user: CurrentUser, limiter: RateLimiterDep) -> None:
    await enforce_rate_limit(
        limiter,
        f"market-data:{user.id}",
        MARKET_DATA_PER_MINUTE,
        60,
        "too many market data requests; try again shortly",
    )


PoolDep = Annotated[ConnectorPool, Depends(get_connector_pool)]
CacheDep = Annotated[MarketDataCache, Depends(get_market_data_cache)]
_MARKET_DATA = [Depends(limit_market_data)]


def _exchange_read(info: ExchangeInfo) -> ExchangeRead:
    return ExchangeRead(
        id=info.exchange_id,
        name=info.name,
        trading=info.trading,
        can_trade=info.can_trade,
        sandbox=info.sandbox,
        capabilities=dict(info.capabilities),
    )


@router.get("", response_model=ExchangeList)
async def list_exchanges(query: Annotated[ExchangeListQuery, Query()]) -> ExchangeList:
    """Every exchange ccxt knows, with capabilities and trading level (public, no login)."""
    infos = await service.list_exchanges(query.trading)
    return ExchangeList(items=[_exchange_read(info) for info in infos], total=len(infos))


@router.get("/{exchange_id}", response_model=ExchangeRead)
async def get_exchange(exchange_id: ExchangeId) -> ExchangeRead:
    """One exchange of the catalog; aliases such as gateio resolve (public, no login)."""
    return _exchange_read(await service.get_exchange(exchange_id))


@router.get(
    "/{exchange_id}/markets",
    response_model=MarketList,
    dependencies=_MARKET_DATA,
    responses=_EXCHANGE_ERRORS,
)
async def list_markets(
    exchange_id: ExchangeId,
    query: Annotated[MarketsQuery, Query()],
    pool: PoolDep,
    cache: CacheDep,
) -> MarketList:
    """The exchange's spot markets with their precision, limits and fees (cached)."""
    info, loaded, markets = await service.list_markets(pool, cache, exchange_id, quote=query.quote)
    return MarketList(
        exchange=info.exchange_id,
        loaded_at=loaded.loaded_at,
        items=[MarketRead.model_validate(rules) for rules in markets],
        total=len(markets),
    )


@router.get(
    "/{exchange_id}/ticker",
    response_model=TickerRead,
    dependencies=_MARKET_DATA,
    responses=_EXCHANGE_ERRORS,
)
async def get_ticker(
    exchange_id: ExchangeId,
    query: Annotated[TickerQuery, Query()],
    pool: PoolDep,
    cache: CacheDep,
) -> TickerRead:
    """The latest price, best bid and best ask of a market."""
    info, ticker = await service.get_ticker(pool, cache, exchange_id, query.symbol)
    return TickerRead(
        exchange=info.exchange_id,
        symbol=ticker.symbol,
        last=ticker.last,
        bid=ticker.bid,
        ask=ticker.ask,
        ts=ticker.ts,
    )


@router.get(
    "/{exchange_id}/ohlcv",
    response_model=CandleList,
    dependencies=_MARKET_DATA,
    responses=_EXCHANGE_ERRORS,
)
async def get_ohlcv(
    exchange_id: ExchangeId,
    query: Annotated[OhlcvQuery, Query()],
    database: DatabaseDep,
    pool: PoolDep,
    cache: CacheDep,
) -> CandleList:
    """Closed candles from the database, fetched from the exchange and stored when missing."""
    result = await service.get_candles(
        database,
        pool,
        cache,
        exchange_id,
        query.symbol,
        query.frame,
        since=query.since,
        limit=query.limit,
    )
    return CandleList(
        exchange=result.exchange_id,
        symbol=result.symbol,
        timeframe=result.timeframe,
        candles=[CandleRead.model_validate(candle) for candle in result.candles],
        fetched=result.fetched,
    )
