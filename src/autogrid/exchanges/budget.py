"""A request budget per (exchange, credential), shared by every process that uses the key.

ccxt's own throttle only knows its instance; an API process and several workers trading with one
key would together exceed the exchange's limit, and Binance answers repeated 429s with 418 IP bans.

The bucket is a token bucket in Redis, updated by one Lua script (atomic, Redis's clock, so the
processes' clocks do not matter). ``acquire`` *reserves* its tokens in the same call: the balance
may go negative and the caller is told how long to sleep, so waiters are served in arrival order
with one round trip each. A 429/418 or Retry-After recorded with ``slow_down`` pauses the refill
until then and empties the bucket: every process using the key waits, not only the one that saw it.

``MemoryBudgets`` is the same algorithm in process, for the embedded mode without Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.exchanges.errors import RateLimited

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """Weights are ccxt's per-endpoint costs; ``rate`` is weight per second."""

    rate: float
    burst: float
    # Queue at most this long; beyond it ``acquire`` raises RateLimited (a temporary error).
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst <= 0 or self.max_wait < 0:
            raise ValueError(f"invalid budget {self}")


class RequestBudget(Protocol):
    async def acquire(self, weight: float = 1.0) -> None:
        """Wait until ``weight`` may be spent; raise RateLimited if that is beyond max_wait."""
        ...

    async def slow_down(self, seconds: float) -> None:
        """Nobody sharing this budget sends anything for ``seconds`` (429/418/Retry-After)."""
        ...


class RequestBudgets(Protocol):
    def budget_for(
        self, exchange_id: str, credential_key: str, spec: BudgetSpec
    ) -> RequestBudget: ...


def credential_key(api_key: str | None) -> str:
    """A stable bucket name for a key that reveals nothing about it ("public" without a key)."""
    if not api_key:
        return "public"
    return "k" + hashlib.sha256(api_key.encode()).hexdigest()[:20]


def _exhausted(name: str, wait: float) -> RateLimited:
    return RateLimited(
        f"request budget {name} is exhausted; next slot in {wait:.2f}s", retry_after=wait
    )


class _Bucket:
    """The algorithm, shared by the in-memory budget and (in Lua) the Redis one."""

    def __init__(self, spec: BudgetSpec, now: float) -> None:
        self.spec = spec
        self.tokens = spec.burst
        self.stamp = now  # refill is counted from here; in the future while slowed down
        self.slow_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            elapsed = now - self.stamp
            self.tokens = min(self.spec.burst, self.tokens + elapsed * self.spec.rate)
            self.stamp = now

    def reserve(self, weight: float, now: float) -> tuple[bool, float]:
        self._refill(now)
        remaining = self.tokens - weight
        wait = max(0.0, self.stamp - now) + max(0.0, -remaining) / self.spec.rate
        if wait > self.spec.max_wait:
            return False, wait
        self.tokens = remaining
        return True, wait

    def pause(self, seconds: float, now: float) -> None:
        self._refill(now)
        until = now + seconds
        if until > self.stamp:
            self.tokens = min(self.tokens, 0.0)
            self.stamp = until
        self.slow_until = max(self.slow_until, until)


class MemoryBudget:
    def __init__(
        self,
        name: str,
        spec: BudgetSpec,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._bucket = _Bucket(spec, clock())

    async def acquire(self, weight: float = 1.0) -> None:
        granted, wait = self._bucket.reserve(weight, self._clock())
        if not granted:
            raise _exhausted(self.name, wait)
        if wait > 0:
            await self._sleep(wait)
            # A slow-down recorded while we slept applies to us too.
            extra = self._bucket.slow_until - self._clock()
            if extra > 0:
                await self._sleep(extra)

    async def slow_down(self, seconds: float) -> None:
        self._bucket.pause(seconds, self._clock())


class MemoryBudgets:
    """Budgets for one process (embedded mode): connectors sharing a key share the bucket."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._budgets: dict[tuple[str, str], MemoryBudget] = {}

    def budget_for(self, exchange_id: str, credential_key: str, spec: BudgetSpec) -> MemoryBudget:
        key = (exchange_id, credential_key)
        if key not in self._budgets:
            self._budgets[key] = MemoryBudget(
                f"{exchange_id}:{credential_key}", spec, clock=self._clock, sleep=self._sleep
            )
        return self._budgets[key]


# KEYS[1] bucket hash. ARGV: rate, burst, weight, max_wait. Returns {granted 0/1, wait seconds}.
# Numbers go back as strings: Redis would truncate Lua floats to integers.
_ACQUIRE = """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local weight, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local remaining = tokens - weight
local wait = math.max(0, stamp - now) + math.max(0, -remaining) / rate
if wait > max_wait then
  return {0, tostring(wait)}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(remaining), 'stamp', tostring(stamp))
redis.call('EXPIRE', KEYS[1], math.ceil(wait + burst / rate) + 60)
return {1, tostring(wait)}
"""

# KEYS[1] bucket hash. ARGV: rate, burst, seconds. Pauses refill until now+seconds.
_SLOW_DOWN = """
local rate, burst, seconds = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp', 'slow_until')
local tokens = tonumber(state[1]) or burst
local stamp = tonumber(state[2]) or now
local slow_until = tonumber(state[3]) or 0
if now > stamp then
  tokens = math.min(burst, tokens + (now - stamp) * rate)
  stamp = now
end
local pause_until = now + seconds
if pause_until > stamp then
  tokens = math.min(tokens, 0)
  stamp = pause_until
end
slow_until = math.max(slow_until, pause_until)
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(stamp),
           'slow_until', tostring(slow_until))
redis.call('EXPIRE', KEYS[1], math.ceil(seconds + burst / rate) + 60)
return tostring(seconds)
"""

# KEYS[1] bucket hash. Seconds left of a recorded slow-down (0 when none).
_PENDING = """
local slow_until = tonumber(redis.call('HGET', KEYS[1], 'slow_until') or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return tostring(math.max(0, slow_until - now))
"""


class RedisBudget:
    """One bucket in Redis. If Redis fails, this process falls back to a private in-memory bucket
    with the same spec (logged): it keeps its own rate, only the sharing is lost meanwhile."""

    def __init__(
        self, redis: Redis, key: str, name: str, spec: BudgetSpec, *, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._redis = redis
        self._key = key
        self.name = name
        self.spec = spec
        self._sleep = sleep
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._slow_down: Any = redis.register_script(_SLOW_DOWN)
        self._pending: Any = redis.register_script(_PENDING)
        self._fallback = MemoryBudget(name, spec, sleep=sleep)

    async def acquire(self, weight: float = 1.0) -> None:
        spec = self.spec
        try:
            granted, wait_text = await self._acquire(
                keys=[self._key], args=[spec.rate, spec.burst, weight, spec.max_wait]
            )
        except RedisError as error:
            logger.warning(
                "request budget %s: Redis unavailable (%s), limiting locally", self.name, error
            )
            await self._fallback.acquire(weight)
            return
        wait = float(wait_text)
        if not int(granted):
            raise _exhausted(self.name, wait)
        if wait > 0:
            await self._sleep(wait)
            await self._wait_for_slow_down()

    async def _wait_for_slow_down(self) -> None:
        """A 429 seen by another process while we slept moves our slot too."""
        try:
            extra = float(await self._pending(keys=[self._key]))
        except RedisError:
            return
        if extra > self.spec.max_wait:
            raise _exhausted(self.name, extra)
        if extra > 0:
            await self._sleep(extra)

    async def slow_down(self, seconds: float) -> None:
        await self._fallback.slow_down(seconds)
        try:
            await self._slow_down(keys=[self._key], args=[self.spec.rate, self.spec.burst, seconds])
        except RedisError as error:
            logger.warning("request budget %s: could not record slow-down: %s", self.name, error)


class RedisBudgets:
    """Budgets shared through Redis; keys live under ``key_prefix`` (settings.redis_key_prefix)."""

    def __init__(self, redis: Redis, key_prefix: str, *, sleep: Sleep = asyncio.sleep) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._sleep = sleep
        self._budgets: dict[tuple[str, str], RedisBudget] = {}

    def budget_for(self, exchange_id: str, credential_key: str, spec: BudgetSpec) -> RedisBudget:
        key = (exchange_id, credential_key)
        if key not in self._budgets:
            self._budgets[key] = RedisBudget(
                self._redis,
                f"{self._prefix}exchange-budget:{exchange_id}:{credential_key}",
                f"{exchange_id}:{credential_key}",
                spec,
                sleep=self._sleep,
            )
        return self._budgets[key]


def create_budgets(redis: Redis | None, key_prefix: str) -> RequestBudgets:
    """Shared through Redis when there is one (workers, API), else in process (embedded mode)."""
    if redis is None:
        return MemoryBudgets()
    return RedisBudgets(redis, key_prefix)
