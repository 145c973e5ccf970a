"""Revoked access tokens, keyed on jti, remembered only until the token would expire anyway;
and each user's auth epoch, which vouches for a cached copy of their row.

Access tokens are stateless, so logging out must remember their jti for the rest of their short
life. Redis shares the list between API processes; without Redis (the embedded default, one API
process) it lives in process memory.

The epoch is a counter per user, bumped by every change that must cut or alter access
(deactivation, a role or plan change, a password change, logging out everywhere). A process may
keep the user's row in memory under the epoch it read; it is trusted only while Redis still
holds that epoch. Every authenticated request reads the denylist entry and the epoch together,
in one round trip. A missing epoch (Redis flushed or restarted) vouches for nothing: it is set
afresh to a random value, never one a process may have cached before.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable
from autogrid.core.redis import key as redis_key
from autogrid.core.sqltypes import utcnow

logger = logging.getLogger(__name__)

# Users whose epoch the embedded denylist keeps: as many as the user cache keeps rows of.
EPOCHS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class AccessCheck:
    """A token's denylist entry and its user's epoch, read together (by the API rate limit's
    round trip, so the route need not read them again)."""

    jti: str
    denied: bool
    epoch: str | None


def denied_key(settings: Settings, jti: str) -> str:
    return redis_key(settings, "auth", "denied-access-jti", jti)


def epoch_key(settings: Settings, user_id: uuid.UUID) -> str:
    return redis_key(settings, "auth", "epoch", str(user_id))


class AccessTokenDenylist(Protocol):
    async def deny(self, jti: str, until: datetime) -> None: ...

    async def check(self, jti: str, user_id: uuid.UUID) -> tuple[bool, str | None]:
        """(is the token denied, the user's auth epoch or None if none is set), at once."""
        ...

    async def ensure_epoch(self, user_id: uuid.UUID) -> str:
        """The user's epoch, set to a fresh random value first if none is set."""
        ...

    async def bump_epoch(self, user_id: uuid.UUID) -> None:
        """Every cached copy of the user's row stops being trusted."""
        ...


def _fresh_epoch() -> int:
    # Random, not 1: after a flush a counter restarting at 1 could repeat an epoch still cached.
    return secrets.randbits(62)


# KEYS[1]: the epoch. ARGV[1]: a fresh value, used when none is set.
_ENSURE_EPOCH_LUA = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""
_BUMP_EPOCH_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCR', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


class RedisAccessTokenDenylist:
    def __init__(self, settings: Settings, redis: Redis, clock: Callable[[], datetime] = utcnow):
        self._settings = settings
        self._redis = redis
        self._clock = clock
        self._ensure_epoch = redis.register_script(_ENSURE_EPOCH_LUA)
        self._bump_epoch = redis.register_script(_BUMP_EPOCH_LUA)

    def _key(self, jti: str) -> str:
        return denied_key(self._settings, jti)

    def _epoch_key(self, user_id: uuid.UUID) -> str:
        return epoch_key(self._settings, user_id)

    async def deny(self, jti: str, until: datetime) -> None:
        seconds = math.ceil((until - self._clock()).total_seconds())
        if seconds <= 0:
            return
        try:
            await self._redis.set(self._key(jti), b"1", ex=seconds)
        except RedisError as error:
            raise _unavailable(error) from error

    async def check(self, jti: str, user_id: uuid.UUID) -> tuple[bool, str | None]:
        # Failing closed: during an outage a logged-out token must not work again.
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.exists(self._key(jti))
                pipe.get(self._epoch_key(user_id))
                denied, epoch = await pipe.execute()
        except RedisError as error:
            raise _unavailable(error) from error
        return bool(denied), text_or_none(epoch)

    async def ensure_epoch(self, user_id: uuid.UUID) -> str:
        try:
            epoch = await self._ensure_epoch(keys=[self._epoch_key(user_id)], args=[_fresh_epoch()])
        except RedisError as error:
            raise _unavailable(error) from error
        return str(text_or_none(epoch))

    async def bump_epoch(self, user_id: uuid.UUID) -> None:
        try:
            await self._bump_epoch(keys=[self._epoch_key(user_id)], args=[_fresh_epoch()])
        except RedisError as error:
            # Failing closed: the change that needed the bump is refused (rolled back).
            raise _unavailable(error) from error


def text_or_none(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class InMemoryAccessTokenDenylist:
    """The embedded default (one API process). Bounded: denials expire with their token, and
    the epochs of the ``EPOCHS_KEPT`` users seen most recently are kept. An epoch dropped is
    safe to lose: a missing epoch vouches for nothing and is set afresh to a random value."""

    def __init__(
        self, clock: Callable[[], datetime] = utcnow, epochs_kept: int = EPOCHS_KEPT
    ) -> None:
        self._clock = clock
        self._denied_until: dict[str, datetime] = {}
        self._epochs: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._epochs_kept = epochs_kept

    async def deny(self, jti: str, until: datetime) -> None:
        now = self._clock()
        # Expired entries are dropped on every write, so the dict holds at most one access-token
        # lifetime's worth of logouts.
        self._denied_until = {j: t for j, t in self._denied_until.items() if t > now}
        if until > now:
            self._denied_until[jti] = until

    async def check(self, jti: str, user_id: uuid.UUID) -> tuple[bool, str | None]:
        until = self._denied_until.get(jti)
        epoch = self._epochs.get(user_id)
        if epoch is not None:
            self._epochs.move_to_end(user_id)
        return until is not None and until > self._clock(), None if epoch is None else str(epoch)

    async def ensure_epoch(self, user_id: uuid.UUID) -> str:
        epoch = self._epochs.get(user_id)
        if epoch is None:
            epoch = _fresh_epoch()
        self._keep_epoch(user_id, epoch)
        return str(epoch)

    async def bump_epoch(self, user_id: uuid.UUID) -> None:
        epoch = self._epochs.get(user_id)
        self._keep_epoch(user_id, _fresh_epoch() if epoch is None else epoch + 1)

    def _keep_epoch(self, user_id: uuid.UUID, epoch: int) -> None:
        self._epochs[user_id] = epoch
        self._epochs.move_to_end(user_id)
        while len(self._epochs) > self._epochs_kept:
            self._epochs.popitem(last=False)


def _unavailable(error: RedisError) -> ServiceUnavailable:
    logger.error("access token denylist unavailable: %s", type(error).__name__)
    return ServiceUnavailable("authentication store unavailable, try again shortly")


def create_access_denylist(settings: Settings, redis: Redis | None) -> AccessTokenDenylist:
    if redis is not None:
        return RedisAccessTokenDenylist(settings, redis)
    return InMemoryAccessTokenDenylist()
