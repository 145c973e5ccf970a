"""Sliding-window rate limits: in Redis when it runs, in process memory in the embedded default.

A limit is "at most ``limit`` recorded hits in any ``window_seconds``". Every allowed hit is
recorded with an id; a rejected hit is not recorded, so ``retry_after`` is the exact wait until the
oldest recorded hit leaves the window. ``forgive`` removes one recorded hit again, which lets a
caller stop counting an attempt that turned out to be legitimate (a successful login).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.redis import key as redis_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # Whole seconds until a new hit would be allowed; 0 when this hit was allowed.
    retry_after: int
    # Identifies the recorded hit for ``forgive``; None when the hit was rejected.
    hit_id: str | None = None


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Record one hit under ``key`` if fewer than ``limit`` happened in the window."""
        ...

    async def forgive(self, key: str, decision: RateDecision) -> None:
        """Remove the hit recorded by ``decision`` (no-op if it was rejected or expired)."""
        ...


# Atomic check-and-record on the server's clock, so API processes with skewed clocks agree.
# KEYS[1] = sorted set of hit ids scored by time in ms; ARGV = window_ms, limit, hit_id.
_SLIDING_WINDOW_LUA = """
local now_parts = redis.call('TIME')
local now_ms = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window_ms = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window_ms)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window_ms - now_ms)
"""


class RedisRateLimiter:
    """Shared by every API process; keys live under the deployment's Redis prefix."""

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._script = redis.register_script(_SLIDING_WINDOW_LUA)

    def _key(self, key: str) -> str:
        return redis_key(self._settings, "ratelimit", key)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        hit_id = uuid.uuid4().hex
        try:
            wait_ms = int(
                await self._script(
                    keys=[self._key(key)],
                    args=[
                        window_seconds * 1000,
                        limit,
                        hit_id,
                    ],
                )
            )
        except RedisError as error:
            # Failing closed: an unlimited login endpoint during an outage is a brute-force window.
            logger.error("rate limiter unavailable: %s", type(error).__name__)
            raise ServiceUnavailable("rate limiter unavailable, try again shortly") from error
        if wait_ms == 0:
            return RateDecision(allowed=True, retry_after=0, hit_id=hit_id)
        return RateDecision(allowed=False, retry_after=max(1, math.ceil(wait_ms / 1000)))

    async def forgive(self, key: str, decision: RateDecision) -> None:
        if decision.hit_id is None:
            return
        try:
            await self._redis.zrem(self._key(key), decision.hit_id)
        except RedisError as error:
            # Forgiving is a courtesy; the hit simply keeps counting until it expires.
            logger.warning("rate limiter could not forgive a hit: %s", type(error).__name__)


class InMemoryRateLimiter:
    """Per-process limits for the embedded default (one API process, no Redis).

    Each API process counts on its own, so with several processes a client gets ``limit`` per
    process; production runs Redis. No awaits happen between check and record, so it is atomic
    within the event loop.
    """

    # Bounds memory under many distinct keys (IPs, emails): idle keys are swept periodically.
    _SWEEP_EVERY_HITS = 1000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[tuple[float, str]]] = {}
        self._windows: dict[str, float] = {}
        self._hits_since_sweep = 0

    def _prune(self, key: str, now: float) -> deque[tuple[float, str]]:
        hits = self._hits.setdefault(key, deque())
        window = self._windows.get(key, 0.0)
        while hits and hits[0][0] <= now - window:
            hits.popleft()
        return hits

    def _sweep(self, now: float) -> None:
        for key in list(self._hits):
            if not self._prune(key, now):
                del self._hits[key]
                self._windows.pop(key, None)

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        now = self._clock()
        self._hits_since_sweep += 1
        if self._hits_since_sweep >= self._SWEEP_EVERY_HITS:
            self._hits_since_sweep = 0
            self._sweep(now)
        self._windows[key] = float(window_seconds)
        hits = self._prune(key, now)
        if len(hits) < limit:
            hit_id = uuid.uuid4().hex
            hits.append((now, hit_id))
            return RateDecision(allowed=True, retry_after=0, hit_id=hit_id)
        wait = hits[0][0] + window_seconds - now
        return RateDecision(allowed=False, retry_after=max(1, math.ceil(wait)))

    async def forgive(self, key: str, decision: RateDecision) -> None:
        hits = self._hits.get(key)
        if decision.hit_id is None or not hits:
            return
        for entry in hits:
            if entry[1] == decision.hit_id:
                hits.remove(entry)
                return


def create_rate_limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    if redis is not None:
        return RedisRateLimiter(settings, redis)
    return InMemoryRateLimiter()


async def enforce_rate_limit(
    limiter: RateLimiter, key: str, limit: int, window_seconds: int, message: str
) -> RateDecision:
    """Record a hit or raise 429 with Retry-After; returns the decision for a later ``forgive``."""
    decision = await limiter.hit(key, limit, window_seconds)
    if not decision.allowed:
        raise TooManyRequests(message, retry_after=decision.retry_after)
    return decision


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
