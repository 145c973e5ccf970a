"""The one moving window every rate limit counts on: the API-wide budget, the route limits
(registration, key verifications, ...) and the login throttle's windows.

"At most ``limit`` hits in any ``window_seconds``", exactly: every allowed hit is kept with its
time under an id of its own, a refused hit is not recorded, and a slot frees when the oldest hit
leaves the window (which is when a refused caller may retry). There is no edge where a burst
fits twice, as with fixed or sliding window counters. An allowed hit can be given back by its id
(a successful login's attempt): that hit and no other leaves the window, and giving it back
again, or after it left, changes nothing.

In Redis (shared by every API process) a window is a sorted set of hit ids scored by their time
in ms, checked and written by one Lua script: atomic, so parallel hits from any number of
processes never exceed the limit, and one round trip, which can also read two other keys (the
API's denylist entry and auth epoch); the hits one process makes at once share round trips, as
one pipeline (:class:`autogrid.core.redis.PipelinedScript`), each still its own script. Its time
is the Redis server's clock, so processes with skewed clocks agree, unless a clock is injected
(tests drive time across a window's edge with one). In process memory, the embedded default
without Redis, it is the same algorithm.

An unreachable store raises ``WindowUnavailable``; each caller chooses to fail open or closed.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.redis import PipelinedScript

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RecordedHit:
    """An allowed hit, as ``forgive`` finds it: its window's storage key and its own id."""

    key: str
    id: str


@dataclass(frozen=True, slots=True)
class WindowHit:
    allowed: bool
    # Hits the window still takes after this one.
    remaining: int
    # Seconds until the oldest recorded hit leaves the window; 0 when none is recorded.
    reset_in: float
    # The hit this call recorded (None when refused), for ``forgive``.
    recorded: RecordedHit | None = None
    # With ``also_read=(exists_key, get_key)``: whether the first key exists and the second's
    # value, read in the same round trip (None when not asked, or without a shared store).
    exists: bool | None = None
    value: str | None = None


class WindowUnavailable(Exception):
    """The window's store did not answer; ``cause`` is what the client raised."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


class MovingWindow(Protocol):
    async def hit(
        self, key: str, limit: int, window_seconds: int, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        """Record one hit under ``key`` if fewer than ``limit`` are in the window."""
        ...

    async def forgive(self, hit: RecordedHit) -> None:
        """Remove exactly ``hit`` from its window (nothing if it already left)."""
        ...


def _window_key(key: str, limit: int, window_seconds: int) -> str:
    # The limit is part of the key: a caller whose token names another plan, or a changed
    # setting, starts afresh instead of being judged by hits counted under another limit.
    return f"{key}:{limit}/{window_seconds}s"


# KEYS[1]: the window, a sorted set of hit ids scored by their time in ms. ARGV: window ms,
# limit, the new hit's id, now in ms ('' for the server's clock).
# Returns {allowed 0/1, hits in the window, ms until the oldest one leaves it}; with KEYS[2] and
# KEYS[3], also whether KEYS[2] exists and KEYS[3]'s value ('' when unset: a nil would end the
# reply's list), so an authenticated API request's every Redis read is this one round trip.
_HIT_LUA = """
local now_ms = tonumber(ARGV[4])
if not now_ms then
  local now_parts = redis.call('TIME')
  now_ms = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
end
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
    def __init__(self, redis: Redis, key_prefix: str, clock: Clock | None = None) -> None:
        """``key_prefix`` ends without a colon; ``clock`` (seconds) replaces the server's."""
        self._redis = redis
        # Hits made at once share round trips (a pipeline of scripts); see PipelinedScript.
        self._script = PipelinedScript(redis, _HIT_LUA)
        self._key_prefix = key_prefix
        self._clock = clock
        # Hit ids: unique in the window (a random prefix per instance, then a counter), for a
        # fraction of a uuid4's cost.
        self._id_prefix = os.urandom(8).hex()
        self._id_numbers = itertools.count()

    async def hit(
        self, key: str, limit: int, window_seconds: int, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        window_key = f"{self._key_prefix}:{_window_key(key, limit, window_seconds)}"
        hit_id = f"{self._id_prefix}{next(self._id_numbers):x}"
        now_ms = "" if self._clock is None else str(round(self._clock() * 1000))
        keys = (window_key, *also_read) if also_read else (window_key,)
        try:
            reply = await self._script(keys, (window_seconds * 1000, limit, hit_id, now_ms))
        except RedisError as error:
            raise WindowUnavailable(error) from error
        allowed = int(reply[0])
        count = int(reply[1])
        exists = value = None
        if also_read is not None:
            exists = bool(reply[3])
            raw = reply[4]
            value = (raw.decode() if isinstance(raw, bytes) else str(raw)) or None
        return WindowHit(
            allowed=bool(allowed),
            remaining=max(0, limit - count),
            reset_in=int(reply[2]) / 1000,
            recorded=RecordedHit(window_key, hit_id) if allowed else None,
            exists=exists,
            value=value,
        )

    async def forgive(self, hit: RecordedHit) -> None:
        try:
            await self._redis.zrem(hit.key, hit.id)
        except RedisError as error:
            raise WindowUnavailable(error) from error


@dataclass(slots=True)
class _Hits:
    window_seconds: float
    # Hit id -> its time, oldest first (times only grow: one process, one clock).
    times: OrderedDict[str, float] = field(default_factory=OrderedDict)

    def drop_left(self, now: float) -> None:
        while self.times:
            hit_id, at = next(iter(self.times.items()))
            if now - at < self.window_seconds:
                return
            del self.times[hit_id]

    def is_empty_at(self, now: float) -> bool:
        self.drop_left(now)
        return not self.times


class MemoryMovingWindow:
    """One process's windows. Bounded: empty windows are dropped, and past ``MAX_KEYS`` the
    least recently hit one (what a flood of fresh keys would otherwise grow without end)."""

    MAX_KEYS = 100_000

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._windows: OrderedDict[str, _Hits] = OrderedDict()

    async def hit(
        self, key: str, limit: int, window_seconds: int, also_read: tuple[str, str] | None = None
    ) -> WindowHit:
        # ``also_read`` is for a shared store; this one has no keys to read. No await below:
        # the check and the write are one step for every other task of the event loop.
        now = self._clock()
        window_key = _window_key(key, limit, window_seconds)
        hits = self._windows.get(window_key) or _Hits(window_seconds)
        hits.drop_left(now)
        recorded = None
        if len(hits.times) < limit:
            recorded = RecordedHit(window_key, uuid.uuid4().hex)
            hits.times[recorded.id] = now
        self._windows[window_key] = hits
        self._windows.move_to_end(window_key)
        self._drop_unused(now)
        oldest = next(iter(hits.times.values()), None)
        return WindowHit(
            allowed=recorded is not None,
            remaining=max(0, limit - len(hits.times)),
            reset_in=0.0 if oldest is None else max(0.0, oldest + window_seconds - now),
            recorded=recorded,
        )

    async def forgive(self, hit: RecordedHit) -> None:
        hits = self._windows.get(hit.key)
        if hits is not None:
            hits.times.pop(hit.id, None)

    def _drop_unused(self, now: float) -> None:
        while len(self._windows) > self.MAX_KEYS:
            self._windows.popitem(last=False)
        # The least recently hit windows come first; stop at the first one still counting.
        while self._windows:
            oldest_key = next(iter(self._windows))
            if not self._windows[oldest_key].is_empty_at(now):
                return
            del self._windows[oldest_key]


def create_moving_window(
    redis: Redis | None, key_prefix: str, clock: Clock | None = None
) -> MovingWindow:
    """In Redis when it runs (keys under ``key_prefix``), else in this process's memory."""
    if redis is None:
        return MemoryMovingWindow(clock or time.monotonic)
    return RedisMovingWindow(redis, key_prefix, clock)
