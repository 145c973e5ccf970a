"""Revoked access tokens, keyed on jti, remembered only until the token would expire anyway.

Access tokens are stateless, so logging out must remember their jti for the rest of their short
life. Redis shares the list between API processes; without Redis (the embedded default, one API
process) it lives in process memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable
from autogrid.core.redis import key as redis_key
from autogrid.core.sqltypes import utcnow

logger = logging.getLogger(__name__)


class AccessTokenDenylist(Protocol):
    async def deny(self, jti: str, until: datetime) -> None: ...

    async def is_denied(self, jti: str) -> bool: ...


class RedisAccessTokenDenylist:
    def __init__(self, settings: Settings, redis: Redis, clock: Callable[[], datetime] = utcnow):
        self._settings = settings
        self._redis = redis
        self._clock = clock

    def _key(self, jti: str) -> str:
        return redis_key(self._settings, "auth", "denied-access-jti", jti)

    async def deny(self, jti: str, until: datetime) -> None:
        seconds = math.ceil((until - self._clock()).total_seconds())
        if seconds <= 0:
            return
        try:
            await self._redis.set(self._key(jti), b"1", ex=seconds)
        except RedisError as error:
            raise _unavailable(error) from error

    async def is_denied(self, jti: str) -> bool:
        try:
            return bool(await self._redis.exists(self._key(jti)))
        except RedisError as error:
            # Failing closed: during an outage a logged-out token must not work again.
            raise _unavailable(error) from error


class InMemoryAccessTokenDenylist:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._denied_until: dict[str, datetime] = {}

    async def deny(self, jti: str, until: datetime) -> None:
        now = self._clock()
        # Expired entries are dropped on every write, so the dict holds at most one access-token
        # lifetime's worth of logouts.
        self._denied_until = {j: t for j, t in self._denied_until.items() if t > now}
        if until > now:
            self._denied_until[jti] = until

    async def is_denied(self, jti: str) -> bool:
        until = self._denied_until.get(jti)
        return until is not None and until > self._clock()


def _unavailable(error: RedisError) -> ServiceUnavailable:
    logger.error("access token denylist unavailable: %s", type(error).__name__)
    return ServiceUnavailable("authentication store unavailable, try again shortly")


def create_access_denylist(settings: Settings, redis: Redis | None) -> AccessTokenDenylist:
    if redis is not None:
        return RedisAccessTokenDenylist(settings, redis)
    return InMemoryAccessTokenDenylist()
