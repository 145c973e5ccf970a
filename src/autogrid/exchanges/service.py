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
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.db import Database
from autogrid.core.errors import AppError, NotFound, Unprocessable
from autogrid.exchanges import errors as exchange_errors
from autogrid.exchanges.api_errors import ExchangeBadGateway, ExchangeUnavailable
from autogrid.exchanges.catalog import ExchangeInfo, TradingSupport, exchange_catalog, exchange_info
from autogrid.exchanges.pool import ConnectorPool
from autogrid.exchanges.retry import NO_RETRY
from autogrid.exchanges.types import CandleData, MarketRules, Ticker
from autogrid.market_data.download import DownloadReport, ceil_to_frame, download_candles
from autogrid.market_data.repository import fetch_candles
from autogrid.market_data.timeframes import Timeframe, datetime_to_ms, ms_to_datetime

logger = logging.getLogger(__name__)

DEFAULT_MARKETS_TTL_SECONDS = 3600.0
# Short, so that an exchange coming back is noticed soon; long enough that a burst of requests
# offline pays the connector's retries once, not once per request.
DEFAULT_MARKETS_FAILURE_TTL_SECONDS = 15.0
# How long a request waits for a market list load in flight before answering without it.
DEFAULT_MARKETS_LOAD_WAIT_SECONDS = 5.0
# How long a loaded list stays readable after it went stale, as the last known one.
LAST_KNOWN_MARKETS_SECONDS = 7 * 86_400.0
# A range found incomplete right after a fetch is not fetched again for this long. Only ranges
# that ended this long ago are remembered: the exchange may still publish the newest candles.
GAP_MEMORY_SECONDS = 86_400.0
SETTLED_AFTER = timedelta(hours=1)
_MEMORY_ENTRIES = 10_000

K = TypeVar("K", bound=Hashable)
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


# ----------------------------------------------------------------------------------- caching


class SingleFlight(Generic[K, T]):
    """Concurrent callers with one key share one call; a caller that gives up (a client that
    disconnects) does not cancel it for the others."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[T]] = {}

    async def run(self, key: K, call: Callable[[], Awaitable[T]]) -> T:
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(call())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(running)

    def _finished(self, key: K, done: asyncio.Future[T]) -> None:
        self._running.pop(key, None)
        if not done.cancelled():
            done.exception()  # retrieved: no "never retrieved" warning when every waiter left


class SharedCache:
    """String values with a time to live: in Redis when there is one (shared by every process),
    else in this process's memory. A Redis failure falls back to memory, never to an error."""

    def __init__(
        self, redis: Redis | None, key_prefix: str, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix + "exchange-data:"
        self._clock = clock
        self._memory: dict[str, tuple[float, str]] = {}

    async def get(self, key: str) -> str | None:
        if self._redis is not None:
            try:
                raw = await self._redis.get(self._prefix + key)
            except RedisError as error:
                logger.warning("exchange data cache: Redis unavailable (%s)", type(error).__name__)
            else:
                return raw.decode() if isinstance(raw, bytes) else raw
        entry = self._memory.get(key)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    async def set(self, key: str, value: str, ttl_seconds: float) -> None:
        if self._redis is not None:
            try:
                await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))
                return
            except RedisError as error:
                logger.warning("exchange data cache: Redis unavailable (%s)", type(error).__name__)
        now = self._clock()
        if len(self._memory) >= _MEMORY_ENTRIES:
            self._memory = {k: v for k, v in self._memory.items() if v[0] > now}
            while len(self._memory) >= _MEMORY_ENTRIES:  # still full: drop the oldest
                del self._memory[next(iter(self._memory))]
        self._memory[key] = (now + ttl_seconds, value)


@dataclass(frozen=True, slots=True)
class LoadedMarkets:
    exchange_id: str
    markets: Mapping[str, MarketRules]
    loaded_at: datetime
    expires_at: float  # epoch seconds


_DECIMAL_FIELDS = ("amount_step", "price_tick", "min_amount", "min_cost", "maker_fee", "taker_fee")
_OPTIONAL_DECIMAL_FIELDS = ("max_amount", "min_price", "max_price")


def _rules_to_json(rules: MarketRules) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": rules.symbol, "base": rules.base, "quote": rules.quote}
    for name in (*_DECIMAL_FIELDS, *_OPTIONAL_DECIMAL_FIELDS):
        value = getattr(rules, name)
        row[name] = None if value is None else str(value)
    row["active"] = rules.active
    return row


def _rules_from_json(row: Mapping[str, Any]) -> MarketRules:
    optional = {
        name: None if row[name] is None else Decimal(row[name]) for name in _OPTIONAL_DECIMAL_FIELDS
    }
    return MarketRules(
        symbol=str(row["symbol"]),
        base=str(row["base"]),
        quote=str(row["quote"]),
        amount_step=Decimal(row["amount_step"]),
        price_tick=Decimal(row["price_tick"]),
        min_amount=Decimal(row["min_amount"]),
        max_amount=optional["max_amount"],
        min_cost=Decimal(row["min_cost"]),
        min_price=optional["min_price"],
        max_price=optional["max_price"],
        maker_fee=Decimal(row["maker_fee"]),
        taker_fee=Decimal(row["taker_fee"]),
        active=bool(row["active"]),
    )


def _encode_markets(entry: LoadedMarkets) -> str:
    return json.dumps(
        {
            "loaded_at": entry.loaded_at.isoformat(),
            "expires_at": entry.expires_at,
            "rows": [_rules_to_json(rules) for rules in entry.markets.values()],
        }
    )


def _decode_markets(exchange_id: str, raw: str) -> LoadedMarkets | None:
    try:
        payload = json.loads(raw)
        rows = [_rules_from_json(row) for row in payload["rows"]]
        return LoadedMarkets(
            exchange_id,
            {rules.symbol: rules for rules in rows},
            datetime.fromisoformat(payload["loaded_at"]),
            float(payload["expires_at"]),
        )
    except (ValueError, KeyError, TypeError, ArithmeticError) as error:
        # A stale format after an upgrade, say: reload rather than fail.
        logger.warning("cached markets of %s are unreadable: %s", exchange_id, error)
        return None


class MarketsUnavailable(exchange_errors.TemporaryExchangeError):
    """The market list failed to load moments ago: not asked again before ``retry_after``."""


class MarketDataCache:
    """Markets per exchange, remembered gaps, and the in-flight loads and fill-ins (one app)."""

    def __init__(
        self,
        store: SharedCache,
        *,
        markets_ttl_seconds: float = DEFAULT_MARKETS_TTL_SECONDS,
        failure_ttl_seconds: float = DEFAULT_MARKETS_FAILURE_TTL_SECONDS,
        load_wait_seconds: float = DEFAULT_MARKETS_LOAD_WAIT_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if min(markets_ttl_seconds, failure_ttl_seconds, load_wait_seconds) <= 0:
            raise ValueError("the markets TTLs and load wait must be positive")
        self.store = store
        self.markets_ttl = markets_ttl_seconds
        self.failure_ttl = failure_ttl_seconds
        self.load_wait = load_wait_seconds
        self._clock = clock
        self._local: dict[str, LoadedMarkets] = {}
        self._market_loads: SingleFlight[str, LoadedMarkets] = SingleFlight()
        self.fill_ins: SingleFlight[tuple[str, str, str, int, int], DownloadReport] = SingleFlight()

    async def markets(
        self, exchange_id: str, load: Callable[[], Awaitable[Mapping[str, MarketRules]]]
    ) -> LoadedMarkets:
        local = self._local.get(exchange_id)
        if local is not None and local.expires_at > self._clock():
            return local
        return await self._market_loads.run(exchange_id, lambda: self._refresh(exchange_id, load))

    async def _refresh(
        self, exchange_id: str, load: Callable[[], Awaitable[Mapping[str, MarketRules]]]
    ) -> LoadedMarkets:
        shared = await self._shared_markets(exchange_id)
        if shared is not None and shared.expires_at > self._clock():
            self._local[exchange_id] = shared  # another process loaded them
            return shared
        await self._raise_if_failed_lately(exchange_id)
        try:
            markets = await load()
        except (exchange_errors.TemporaryExchangeError, TimeoutError) as error:
            # A Retry-After longer than our own pause is honoured: asking sooner is pointless.
            ttl = max(self.failure_ttl, getattr(error, "retry_after", None) or 0.0)
            until = self._clock() + ttl
            await self.store.set(f"markets-failed:{exchange_id}", repr(until), ttl)
            raise
        now = self._clock()
        entry = LoadedMarkets(
            exchange_id, dict(markets), datetime.fromtimestamp(now, UTC), now + self.markets_ttl
        )
        # Kept past its expiry as the last known list; ``expires_at`` says when to reload.
        await self.store.set(
            f"markets:{exchange_id}",
            _encode_markets(entry),
            self.markets_ttl + LAST_KNOWN_MARKETS_SECONDS,
        )
        self._local[exchange_id] = entry
        return entry

    async def _shared_markets(self, exchange_id: str) -> LoadedMarkets | None:
        raw = await self.store.get(f"markets:{exchange_id}")
        return None if raw is None else _decode_markets(exchange_id, raw)

    async def _raise_if_failed_lately(self, exchange_id: str) -> None:
        raw = await self.store.get(f"markets-failed:{exchange_id}")
        if raw is None:
            return
        try:
            wait = float(raw) - self._clock()
        except ValueError:
            return
        if wait > 0:
            raise MarketsUnavailable(
                f"{exchange_id} markets failed to load moments ago", retry_after=wait
            )

    async def last_known_markets(self, exchange_id: str) -> LoadedMarkets | None:
        """The list loaded last, however old (None if never loaded, or long forgotten)."""
        local = self._local.get(exchange_id)
        if local is not None:
            return local
        return await self._shared_markets(exchange_id)

    async def known_gap(self, key: tuple[str, str, str, int, int]) -> bool:
        return await self.store.get("gap:" + ":".join(map(str, key))) is not None

    async def remember_gap(self, key: tuple[str, str, str, int, int]) -> None:
        await self.store.set("gap:" + ":".join(map(str, key)), "1", GAP_MEMORY_SECONDS)


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
