"""Route rate limits (registration, key verifications, ...) and the login guard's windows.

A limit is "at most ``limit`` hits in any ``window_seconds``", counted on the one moving window
(:mod:`autogrid.core.moving_window`) the API rate limit counts on too: exact, a refused hit is
not recorded, and ``retry_after`` is the wait until the oldest hit leaves the window. Redis when
it runs (shared by every API process, under the deployment's key prefix), process memory in the
embedded default.

An allowed hit can be given back with ``forgive`` when the attempt turns out legitimate (a
successful login): the hit it recorded, found by its id, leaves the window, and no other.

A storage outage fails closed (503): an unlimited login endpoint during an outage is a
brute-force window, and the routes limited here (login, registration, key verifications,
notification tests, market data) can all wait. The API-wide limit, which also guards the kill
switch, fails open instead (``autogrid.api.rate_limits``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.moving_window import (
    Clock,
    MovingWindow,
    RecordedHit,
    WindowUnavailable,
    create_moving_window,
)
from autogrid.core.redis import key as redis_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    # Whole seconds until a new hit would be allowed; 0 when this hit was allowed.
    retry_after: int
    # The hit an allowed decision recorded, for ``forgive``.
    recorded: RecordedHit | None = None


class RateLimiter:
    def __init__(self, window: MovingWindow) -> None:
        self.window = window

    async def hit(self, key: str, limit: int, window_seconds: int) -> RateDecision:
        """Record one hit under ``key`` if fewer than ``limit`` happened in the window."""
        try:
            counted = await self.window.hit(key, limit, window_seconds)
        except WindowUnavailable as error:
            logger.error("rate limiter unavailable: %s", type(error.cause).__name__)
            raise ServiceUnavailable("rate limiter unavailable, try again shortly") from error
        if counted.allowed:
            return RateDecision(True, 0, counted.recorded)
        return RateDecision(False, max(1, math.ceil(counted.reset_in)))

    async def forgive(self, decision: RateDecision) -> None:
        """Give back the hit ``decision`` recorded (no-op for a refused one)."""
        if decision.recorded is None:
            return
        try:
            await self.window.forgive(decision.recorded)
        except WindowUnavailable as error:
            # Forgiving is a courtesy; the hit simply keeps counting until it leaves the window.
            logger.warning("rate limiter could not forgive a hit: %s", type(error.cause).__name__)


def create_rate_limiter(
    settings: Settings, redis: Redis | None, clock: Clock | None = None
) -> RateLimiter:
    """On the app's Redis under the ``ratelimit`` prefix, else in process memory."""
    return RateLimiter(create_moving_window(redis, redis_key(settings, "ratelimit"), clock))


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
