"""Where the API rate limit counts: a moving window that records a hit and reports the window's
state in one step.

Every API request spends one hit and its answer carries the budget left, so counting is on the
path of every request. In Redis it is one atomic script (one round trip: the ``limits``
library's strategy needs two, a hit and then a read of the window); in process memory, the
embedded default without Redis, the library's strategy is as cheap as anything.

Both are moving windows: at most ``amount`` hits in any ``expiry`` seconds, a refused hit is not
recorded, and the window resets when its oldest recorded hit leaves it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Protocol

from limits import RateLimitItem
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis
from redis.exceptions import RedisError


@dataclass(frozen=True, slots=True)
class WindowHit:
    allowed: bool
    # Hits the window still takes after this one.
    remaining: int
    # Seconds until the oldest recorded hit leaves the window; 0 when none is recorded.
    reset_in: float
    # With ``also_read=(exists_key, get_key)``: whether the first key exists and the second's
    # value, read in the same round trip (None when not asked, or not supported).
    exists: bool | None = None
    value: str | None = None


class MovingWindow(Protocol):
    async def hit(
        self, item: RateLimitItem, key: str, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        """Record one hit under ``key`` if the window takes it; StorageError if unreachable."""
        ...


class LibraryWindow:
    """The ``limits`` library's moving window over one of its storages (memory, by default)."""

    def __init__(self, storage: Storage) -> None:
        self._strategy = MovingWindowRateLimiter(storage)

    async def hit(
        self, item: RateLimitItem, key: str, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        # ``also_read`` is for a shared store; the embedded one has no keys to read.
        allowed = await self._strategy.hit(item, key)
        stats = await self._strategy.get_window_stats(item, key)
        return WindowHit(allowed, stats.remaining, max(0.0, stats.reset_time - time.time()))


# KEYS[1]: a sorted set of hit ids scored by their time in ms (the server's clock, so processes
# with skewed clocks agree). ARGV: window ms, amount, the new hit's id.
# Returns {allowed 0/1, hits in the window, ms until the oldest one leaves it}; with KEYS[2] and
# KEYS[3], also whether KEYS[2] exists and KEYS[3]'s value ('' when unset: a nil would end the
# reply's list), so an authenticated request's every Redis read is this one round trip.
_MOVING_WINDOW_LUA = """
local now_parts = redis.call('TIME')
local now_ms = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window_ms = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window_ms)
  count = count + 1
  allowed = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local reset_ms = 0
if oldest[2] then
  reset_ms = math.max(0, tonumber(oldest[2]) + window_ms - now_ms)
end
if KEYS[3] then
  return {allowed, count, reset_ms, redis.call('EXISTS', KEYS[2]), redis.call('GET', KEYS[3]) or ''}
end
return {allowed, count, reset_ms}
"""


class RedisMovingWindow:
    """Shared by every API process; one round trip per hit."""

    def __init__(self, redis: Redis, key_prefix: str) -> None:
        self._script = redis.register_script(_MOVING_WINDOW_LUA)
        self._key_prefix = key_prefix

    async def hit(
        self, item: RateLimitItem, key: str, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        # The limit is part of the key: a caller whose token names another plan starts afresh.
        window_key = f"{self._key_prefix}:{item.key_for(key)}"
        keys = [window_key, *also_read] if also_read else [window_key]
        try:
            reply = await self._script(
                keys=keys, args=[item.get_expiry() * 1000, item.amount, uuid.uuid4().hex]
            )
        except RedisError as error:
            raise StorageError(error) from error
        allowed, count, reset_ms = reply[:3]
        hit = WindowHit(bool(allowed), max(0, item.amount - int(count)), int(reset_ms) / 1000)
        if also_read is None:
            return hit
        value = reply[4].decode() if isinstance(reply[4], bytes) else str(reply[4])
        return replace(hit, exists=bool(reply[3]), value=value or None)
