"""What the exchanges API caches: market lists, candle fill-ins in flight, known gaps.

Markets are loaded once per exchange and kept for a TTL, in Redis when the app has one (every
process shares the entry) and in process memory otherwise; concurrent requests share one load
(``SingleFlight``). A load that fails for a temporary reason is remembered for a short while, so
every caller gets the same answer at once instead of trying the exchange again, and the list
loaded last stays readable (``last_known_markets``) for callers that can make do with it.
Candle ranges being fetched are shared the same way, and a range found incomplete right after a
fetch (a gap the exchange really has) is remembered so that asking again does not fetch again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.exchanges import errors as exchange_errors
from autogrid.exchanges.types import MarketRules
from autogrid.market_data.download import DownloadReport

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
_MEMORY_ENTRIES = 10_000

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


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


def create_market_data_cache(settings: Settings, redis: Redis | None) -> MarketDataCache:
    """The settings' cache, shared through ``redis`` by every process (the API's, a worker's)."""
    return MarketDataCache(
        SharedCache(redis, settings.redis_key_prefix),
        markets_ttl_seconds=settings.markets_cache_ttl_seconds,
        failure_ttl_seconds=settings.markets_failure_ttl_seconds,
        load_wait_seconds=settings.markets_load_wait_seconds,
    )
