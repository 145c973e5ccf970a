"""Market data use cases of the exchanges API: the catalog, markets, tickers and candles.

Only exchange ids from the catalog reach a connector, and only through the pool's *public*
connector: no request field (URL, host, proxy, option) is ever passed to ccxt, and symbols are
checked against the exchange's own market list before a ticker is fetched.

- Markets are loaded once per exchange and kept for a TTL, in Redis when the app has one (every
  process shares the entry) and in process memory otherwise; concurrent requests share one load.
  A request's load is one attempt (no retries with backoff while someone waits) and waits at
  most a few seconds; a load that fails for a temporary reason is remembered for a short while
  (a negative cache): meanwhile every caller gets the same 503 at once instead of trying the
  exchange again, and the list loaded last stays readable (``last_known_markets``) for callers
  that can make do with it, such as bot validation offline.
- Candles are served from the ``ohlcv`` table. A range that is not stored is fetched (paged) with
  ``market_data.download.download_candles``, stored, then served; a range that stays incomplete
  after a fetch (a gap the exchange really has) is remembered for a while, so asking again does
  not call the exchange again.
- Exchange failures become clear statuses: temporary trouble 503 (with Retry-After when known),
  a refusal 422, anything unexpected 502. Never a 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from autogrid.core.db import Database
from autogrid.core.errors import AppError, NotFound, Unprocessable
from autogrid.exchanges import errors as exchange_errors
from autogrid.exchanges.api_errors import ExchangeBadGateway, ExchangeUnavailable
from autogrid.exchanges.catalog import ExchangeInfo, TradingSupport, exchange_catalog, exchange_info
from autogrid.exchanges.market_data_cache import (
    LoadedMarkets,
    MarketDataCache,
)
from autogrid.exchanges.pool import ConnectorPool
from autogrid.exchanges.retry import NO_RETRY
from autogrid.exchanges.types import CandleData, MarketRules, Ticker
from autogrid.market_data.download import ceil_to_frame, download_candles
from autogrid.market_data.repository import fetch_candles
from autogrid.market_data.timeframes import Timeframe, datetime_to_ms, ms_to_datetime

logger = logging.getLogger(__name__)

SETTLED_AFTER = timedelta(hours=1)

T = TypeVar("T")


# ----------------------------------------------------------------------------------- errors


class UnknownExchange(NotFound):
    code = "unknown_exchange"

    def __init__(self, exchange_id: str) -> None:
        super().__init__(f"unknown exchange {exchange_id!r}", details={"exchange": exchange_id})


class UnknownSymbol(NotFound):
    code = "unknown_symbol"

    def __init__(self, exchange_id: str, symbol: str) -> None:
        super().__init__(
            f"{exchange_id} has no spot market {symbol}",
            details={"exchange": exchange_id, "symbol": symbol},
        )


class NotOffered(Unprocessable):
    code = "not_offered"

    def __init__(self, info: ExchangeInfo, capability: str) -> None:
        super().__init__(
            f"{info.name} does not offer {capability} through ccxt",
            details={"exchange": info.exchange_id, "capability": capability},
        )


class ExchangeRefused(Unprocessable):
    code = "exchange_refused"

    def __init__(self, exchange_id: str) -> None:
        super().__init__(
            f"{exchange_id} refused the request (is the timeframe offered by this exchange?)",
            details={"exchange": exchange_id},
        )


def _api_error(exchange_id: str, error: Exception) -> AppError:
    """Our API error for an exchange failure. Fixed texts: the exchange's answer is not echoed."""
    if isinstance(error, exchange_errors.TemporaryExchangeError):
        return ExchangeUnavailable(exchange_id, retry_after=error.retry_after)
    if isinstance(error, TimeoutError):
        return ExchangeUnavailable(exchange_id)
    if isinstance(error, exchange_errors.OrderRejected):
        return ExchangeRefused(exchange_id)
    return ExchangeBadGateway(exchange_id)


async def _guarded(exchange_id: str, call: Awaitable[T]) -> T:
    try:
        return await call
    except (exchange_errors.ExchangeError, TimeoutError) as error:
        raise _api_error(exchange_id, error) from None


# ----------------------------------------------------------------------------------- use cases


async def list_exchanges(trading: TradingSupport | None = None) -> list[ExchangeInfo]:
    # The catalog describes every ccxt exchange once (about a second, then cached): off the loop.
    catalog = await asyncio.to_thread(exchange_catalog)
    return [info for info in catalog if trading is None or info.trading is trading]


async def get_exchange(exchange_id: str) -> ExchangeInfo:
    info = await asyncio.to_thread(exchange_info, exchange_id)
    if info is None:
        raise UnknownExchange(exchange_id)
    return info


async def load_markets(
    pool: ConnectorPool, cache: MarketDataCache, info: ExchangeInfo
) -> LoadedMarkets:
    """The market list for a request someone is waiting on (the markets API, bot and backtest
    validation): one attempt, never the connector's retries with backoff, so an exchange that
    refuses connections costs one try before the negative cache and the fallbacks answer. A load
    still running after ``cache.load_wait`` (a connect that hangs) is left to finish in the
    background, filling the cache; this caller stops waiting for it. Workers load their
    markets through their own connectors, with retries."""

    async def load() -> Mapping[str, MarketRules]:
        connector = await pool.public(info.exchange_id)
        # reload: the cache decides when to reload.
        return await connector.load_markets(reload=True, retry=NO_RETRY)

    async def waited() -> LoadedMarkets:
        async with asyncio.timeout(cache.load_wait):
            return await cache.markets(info.exchange_id, load)

    return await _guarded(info.exchange_id, waited())


async def list_markets(
    pool: ConnectorPool, cache: MarketDataCache, exchange_id: str, *, quote: str | None = None
) -> tuple[ExchangeInfo, LoadedMarkets, list[MarketRules]]:
    info = await get_exchange(exchange_id)
    loaded = await load_markets(pool, cache, info)
    markets = [
        rules
        for symbol, rules in sorted(loaded.markets.items())
        if quote is None or rules.quote == quote
    ]
    return info, loaded, markets


async def _listed_market(
    pool: ConnectorPool, cache: MarketDataCache, info: ExchangeInfo, symbol: str
) -> MarketRules:
    loaded = await load_markets(pool, cache, info)
    rules = loaded.markets.get(symbol)
    if rules is None:
        raise UnknownSymbol(info.exchange_id, symbol)
    return rules


def _require(info: ExchangeInfo, capability: str) -> None:
    if not info.capabilities.get(capability, False):
        raise NotOffered(info, capability)


async def get_ticker(
    pool: ConnectorPool, cache: MarketDataCache, exchange_id: str, symbol: str
) -> tuple[ExchangeInfo, Ticker]:
    info = await get_exchange(exchange_id)
    _require(info, "fetchTicker")
    await _listed_market(pool, cache, info, symbol)
    connector = await pool.public(info.exchange_id)
    return info, await _guarded(info.exchange_id, connector.fetch_ticker(symbol))


@dataclass(frozen=True, slots=True)
class Candles:
    exchange_id: str
    symbol: str
    timeframe: str
    candles: list[CandleData]
    fetched: int  # candles received from the exchange to answer this request


def candle_window(
    frame: Timeframe, since: datetime | None, limit: int, now: datetime
) -> tuple[int, int]:
    """``[start, end)`` in ms of at most ``limit`` closed candles from ``since``, or the latest
    ``limit`` closed candles. The candle still in progress is never included."""
    closed_end = frame.floor(datetime_to_ms(now))
    first_ever = ceil_to_frame(frame, 0)  # nothing opens before the epoch
    if since is None:
        return max(first_ever, closed_end - limit * frame.ms), closed_end
    start = max(first_ever, ceil_to_frame(frame, datetime_to_ms(since)))
    return start, min(closed_end, start + limit * frame.ms)


async def get_candles(
    database: Database,
    pool: ConnectorPool,
    cache: MarketDataCache,
    exchange_id: str,
    symbol: str,
    frame: Timeframe,
    *,
    since: datetime | None,
    limit: int,
    now: datetime | None = None,
) -> Candles:
    info = await get_exchange(exchange_id)
    now = now or datetime.now(UTC)
    start, end = candle_window(frame, since, limit, now)
    if start >= end:  # a since in the future, or inside the candle in progress
        return Candles(info.exchange_id, symbol, frame.name, [], 0)
    expected = (end - start) // frame.ms
    stored = await _stored(database, info.exchange_id, symbol, frame, start, end, expected)
    key = (info.exchange_id, symbol, frame.name, start, end)
    if len(stored) >= expected or await cache.known_gap(key):
        return Candles(info.exchange_id, symbol, frame.name, stored, 0)
    _require(info, "fetchOHLCV")
    await _listed_market(pool, cache, info, symbol)
    connector = await pool.public(info.exchange_id)
    report = await _guarded(
        info.exchange_id,
        cache.fill_ins.run(
            key,
            lambda: download_candles(
                database,
                connector,
                info.exchange_id,
                symbol,
                frame,
                ms_to_datetime(start),
                ms_to_datetime(end),
                page_candles=expected,
                retry=NO_RETRY,  # the connector retried already; the client is waiting
                now=now,
            ),
        ),
    )
    if not report.complete and ms_to_datetime(end) <= now - SETTLED_AFTER:
        await cache.remember_gap(key)
    stored = await _stored(database, info.exchange_id, symbol, frame, start, end, expected)
    return Candles(info.exchange_id, symbol, frame.name, stored, report.received)


async def _stored(
    database: Database,
    exchange_id: str,
    symbol: str,
    frame: Timeframe,
    start: int,
    end: int,
    limit: int,
) -> list[CandleData]:
    # A short session of its own: the fill-in commits its pages in sessions of its own, and a
    # fresh read sees them whatever the database's snapshot rules.
    async with database.session_scope() as session:
        return await fetch_candles(
            session,
            exchange_id,
            symbol,
            frame.name,
            ms_to_datetime(start),
            ms_to_datetime(end),
            limit=limit,
        )
