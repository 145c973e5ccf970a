"""Route rate limits (registration, key verifications, ...) and the login guard's windows.

The windows come from the ``limits`` library, on the storage the API rate limit uses: Redis when
it runs (shared by every API process, under the deployment's key prefix), process memory in the
embedded default. A limit is "at most ``limit`` hits in any ``window_seconds``":

- ``hit`` counts on a moving window (exact: every hit is kept with its time, a refused hit is not
  recorded, and ``retry_after`` is the wait until the oldest hit leaves the window).
- ``hit(..., forgivable=True)`` counts on a sliding window counter instead, so that ``forgive``
  can give the hit back when the attempt turns out legitimate (a successful login). A moving
  window cannot drop one entry; the counter can, through a hit of cost -1 (the library applies
  any cost atomically). The counter weighs the previous window's count by how much of it still
  overlaps, so it is approximate; a give-back landing just after a window boundary frees one
  slot of the new window while the hit decays in the old one, at worst one extra attempt per
  successful login timed on a boundary.

A storage outage fails closed (503): an unlimited login endpoint during an outage is a
brute-force window, and the routes limited here (login, registration, key verifications,
notification tests, market data) can all wait. The API-wide limit, which also guards the kill
switch, fails open instead (``autogrid.api.rate_limits``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.redis import key as redis_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # Whole seconds until a new hit would be allowed; 0 when this hit was allowed.
    retry_after: int
    # The window ``forgive`` gives this hit back to: set for an allowed forgivable hit only.
    forgivable_in: RateLimitItem | None = None


class RateLimiter:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._exact = MovingWindowRateLimiter(storage)
        self._forgivable = SlidingWindowCounterRateLimiter(storage)

    async def hit(
        self, key: str, limit: int, window_seconds: int, *, forgivable: bool = False
    ) -> RateDecision:
        """Record one hit under ``key`` if fewer than ``limit`` happened in the window."""
        item = RateLimitItemPerSecond(limit, window_seconds)
        strategy = self._forgivable if forgivable else self._exact
        try:
            if await strategy.hit(item, key):
                return RateDecision(True, 0, item if forgivable else None)
            stats = await strategy.get_window_stats(item, key)
        except StorageError as error:
            logger.error("rate limiter unavailable: %s", type(error.storage_error).__name__)
            raise ServiceUnavailable("rate limiter unavailable, try again shortly") from error
        return RateDecision(False, max(1, math.ceil(stats.reset_time - time.time())))

    async def forgive(self, key: str, decision: RateDecision) -> None:
        """Give back the hit ``decision`` recorded (no-op unless an allowed forgivable one)."""
        if decision.forgivable_in is None:
            return
        try:
            await self._forgivable.hit(decision.forgivable_in, key, cost=-1)
        except StorageError as error:
            # Forgiving is a courtesy; the hit simply keeps counting until it expires.
            logger.warning(
                "rate limiter could not forgive a hit: %s", type(error.storage_error).__name__
            )


def create_rate_limit_storage(settings: Settings, redis: Redis | None) -> Storage:
    """The app's Redis connection pool under the ``ratelimit`` prefix, else process memory."""
    if redis is None:
        return MemoryStorage()
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        # Every failure arrives as limits' StorageError, whatever the client raised.
        wrap_exceptions=True,
        key_prefix=redis_key(settings, "ratelimit"),
        # The library types its options as scalars; a redis-py pool is what it passes on.
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
    )


def create_rate_limiter(settings: Settings, redis: Redis | None) -> RateLimiter:
    return RateLimiter(create_rate_limit_storage(settings, redis))


async def enforce_rate_limit(
    limiter: RateLimiter,
    key: str,
    limit: int,
    window_seconds: int,
    message: str,
    *,
    forgivable: bool = False,
) -> RateDecision:
    """Record a hit or raise 429 with Retry-After; returns the decision for a later ``forgive``."""
    decision = await limiter.hit(key, limit, window_seconds, forgivable=forgivable)
    if not decision.allowed:
        raise TooManyRequests(message, retry_after=decision.retry_after)
    return decision


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
