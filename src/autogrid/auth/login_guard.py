"""Throttle password guessing without letting an attacker lock the owner out.

Following the OWASP Authentication Cheat Sheet ("account lockout" should slow an attacker, not
deny service to the user), a login attempt passes three checks, all before the password is
verified so a refused attempt costs no Argon2 work:

1. **Per address and account pair: progressive delay.** After ``FREE_FAILURES`` failed attempts
   from one address at one account, each further failure makes that pair wait twice as long as
   the last (1 s, 2 s, 4 s ... up to ``MAX_DELAY_SECONDS``). A correct password from the pair
   clears it. Failures from other addresses never delay this pair.
2. **Per address: a moving window** of ``rate_limit_login_per_minute`` attempts at any account
   (what stops one address from spraying many accounts). A successful attempt is not counted.
3. **Per account: a looser moving window** of ``rate_limit_login_per_account_per_hour`` attempts
   from addresses that never logged in to it. When it is full, unknown addresses wait, but an
   address that logged in to the account successfully before (one of its
   ``KNOWN_ADDRESSES_PER_ACCOUNT`` most recent) is still admitted: an attacker spreading guesses
   over many addresses cannot keep the owner, or the admin who needs the kill switch, out.

Addresses are counted per IPv4 address and per IPv6 /64. The two windows are exact moving
windows (:mod:`autogrid.core.ratelimit`): never more attempts than the limit in any stretch of
the window's length, across a window's edge too; a successful attempt's own hit is removed by its
id, so it frees exactly the slot it took. The pair delays and known addresses are this module's
own. Every state lives in Redis when it runs (shared by every API process) and in process memory
in the embedded default. A Redis outage fails closed (503): refusing logins for a while is safer
than unthrottled guessing. Addresses and emails are stored hashed: personal data stays out of
Redis and keys stay short.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.ratelimit import RateDecision, RateLimiter, enforce_rate_limit
from autogrid.core.redis import key as redis_key

logger = logging.getLogger(__name__)

FREE_FAILURES = 3
FIRST_DELAY_SECONDS = 1
MAX_DELAY_SECONDS = 900
# A pair's failures are forgotten this long after its last one; slow guessing still escalates.
FAILURE_MEMORY_SECONDS = 3600
KNOWN_ADDRESSES_PER_ACCOUNT = 10
KNOWN_ADDRESS_TTL_SECONDS = 90 * 86_400
ADDRESS_WINDOW_SECONDS = 60
ACCOUNT_WINDOW_SECONDS = 3600
TOO_MANY = "too many login attempts, try again later"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def client_network(client_ip: str) -> str:
    """What one client controls: its IPv4 address, or the /64 of its IPv6 address.

    A single IPv6 host is commonly given a whole /64; counting per address would hand it 2^64
    fresh budgets.
    """
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def delay_after(failures: int) -> int:
    """Seconds a pair waits after its ``failures``-th consecutive failure."""
    if failures <= FREE_FAILURES:
        return 0
    exponent = min(failures - FREE_FAILURES - 1, 30)
    return int(min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2**exponent))


class LoginMemory(Protocol):
    """Per pair failure counts with their delay, and per account known addresses."""

    async def pair_wait(self, pair: str) -> int:
        """Whole seconds this pair must still wait (0: it may try now)."""
        ...

    async def record_failure(self, pair: str) -> int:
        """Count a failure; returns the wait it imposes."""
        ...

    async def clear_pair(self, pair: str) -> None: ...

    async def is_known(self, account: str, address: str) -> bool: ...

    async def remember(self, account: str, address: str) -> None: ...


# KEYS[1] = hash {failures, until_ms}; ARGV = free, first_ms, max_ms, memory_ms. Server clock.
_RECORD_FAILURE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local delay = 0
if failures > tonumber(ARGV[1]) then
  local exponent = math.min(failures - tonumber(ARGV[1]) - 1, 30)
  delay = math.floor(math.min(tonumber(ARGV[3]), tonumber(ARGV[2]) * (2 ^ exponent)))
end
redis.call('HSET', KEYS[1], 'until_ms', now + delay)
redis.call('PEXPIRE', KEYS[1], math.max(tonumber(ARGV[4]), delay))
return delay
"""
_PAIR_WAIT_LUA = """
local until_ms = tonumber(redis.call('HGET', KEYS[1], 'until_ms') or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return math.max(0, until_ms - now)
"""


class RedisLoginMemory:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis
        self._record = redis.register_script(_RECORD_FAILURE_LUA)
        self._wait = redis.register_script(_PAIR_WAIT_LUA)

    def _key(self, *parts: str) -> str:
        return redis_key(self._settings, "login", *parts)

    async def pair_wait(self, pair: str) -> int:
        try:
            wait_ms = int(await self._wait(keys=[self._key("pair", pair)]))
        except RedisError as error:
            raise _unavailable(error) from error
        return math.ceil(wait_ms / 1000)

    async def record_failure(self, pair: str) -> int:
        args = [FREE_FAILURES, FIRST_DELAY_SECONDS * 1000, MAX_DELAY_SECONDS * 1000]
        try:
            delay_ms = int(
                await self._record(
                    keys=[self._key("pair", pair)], args=[*args, FAILURE_MEMORY_SECONDS * 1000]
                )
            )
        except RedisError as error:
            raise _unavailable(error) from error
        return math.ceil(delay_ms / 1000)

    async def clear_pair(self, pair: str) -> None:
        try:
            await self._redis.delete(self._key("pair", pair))
        except RedisError as error:
            logger.warning("login memory could not clear a pair: %s", type(error).__name__)

    async def is_known(self, account: str, address: str) -> bool:
        try:
            score = await self._redis.zscore(self._key("known", account), address)
        except RedisError as error:
            raise _unavailable(error) from error
        return score is not None

    async def remember(self, account: str, address: str) -> None:
        key = self._key("known", account)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(key, {address: time.time()})
                # Keep the most recent ones only: bounded per account, whatever logs in.
                pipe.zremrangebyrank(key, 0, -KNOWN_ADDRESSES_PER_ACCOUNT - 1)
                pipe.expire(key, KNOWN_ADDRESS_TTL_SECONDS)
                await pipe.execute()
        except RedisError as error:
            # The login itself succeeded; only the lockout exemption is not refreshed.
            logger.warning("login memory could not remember an address: %s", type(error).__name__)


@dataclass(slots=True)
class _PairState:
    failures: int
    until: float
    last_failure: float


class InMemoryLoginMemory:
    """The embedded default (one API process). Bounded: old entries are dropped first."""

    MAX_PAIRS = 100_000
    MAX_ACCOUNTS = 100_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pairs: OrderedDict[str, _PairState] = OrderedDict()
        self._known: OrderedDict[str, OrderedDict[str, None]] = OrderedDict()

    def _live_pair(self, pair: str, now: float) -> _PairState | None:
        state = self._pairs.get(pair)
        if state is not None and now - state.last_failure >= max(
            FAILURE_MEMORY_SECONDS, state.until - state.last_failure
        ):
            del self._pairs[pair]
            return None
        return state

    async def pair_wait(self, pair: str) -> int:
        now = self._clock()
        state = self._live_pair(pair, now)
        return 0 if state is None else max(0, math.ceil(state.until - now))

    async def record_failure(self, pair: str) -> int:
        now = self._clock()
        state = self._live_pair(pair, now)
        failures = 1 if state is None else state.failures + 1
        delay = delay_after(failures)
        self._pairs[pair] = _PairState(failures, now + delay, now)
        self._pairs.move_to_end(pair)
        while len(self._pairs) > self.MAX_PAIRS:
            self._pairs.popitem(last=False)
        return delay

    async def clear_pair(self, pair: str) -> None:
        self._pairs.pop(pair, None)

    async def is_known(self, account: str, address: str) -> bool:
        return address in self._known.get(account, {})

    async def remember(self, account: str, address: str) -> None:
        addresses = self._known.setdefault(account, OrderedDict())
        addresses[address] = None
        addresses.move_to_end(address)
        self._known.move_to_end(account)
        while len(addresses) > KNOWN_ADDRESSES_PER_ACCOUNT:
            addresses.popitem(last=False)
        while len(self._known) > self.MAX_ACCOUNTS:
            self._known.popitem(last=False)


def _unavailable(error: RedisError) -> ServiceUnavailable:
    # Failing closed, like the rate limiter: no unthrottled guessing during an outage.
    logger.error("login throttle unavailable: %s", type(error).__name__)
    return ServiceUnavailable("rate limiter unavailable, try again shortly")


def create_login_memory(settings: Settings, redis: Redis | None) -> LoginMemory:
    if redis is not None:
        return RedisLoginMemory(settings, redis)
    return InMemoryLoginMemory()


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """The hits one admitted attempt recorded, to forgive or clear when it succeeds."""

    address: str
    account: str
    address_hit: RateDecision
    account_hit: RateDecision | None

    @property
    def pair(self) -> str:
        return f"{self.address}:{self.account}"

    @property
    def address_key(self) -> str:
        return f"login:address:{self.address}"

    @property
    def account_key(self) -> str:
        return f"login:account:{self.account}"


class LoginGuard:
    def __init__(self, settings: Settings, limiter: RateLimiter, memory: LoginMemory) -> None:
        self._settings = settings
        self._limiter = limiter
        self._memory = memory

    async def admit(self, client_ip: str, email: str) -> LoginAttempt:
        """Let the attempt go on to the password check, or raise 429 with Retry-After."""
        address, account = _digest(client_network(client_ip)), _digest(email)
        attempt = LoginAttempt(address, account, RateDecision(True, 0), None)
        wait = await self._memory.pair_wait(attempt.pair)
        if wait > 0:
            raise TooManyRequests(TOO_MANY, retry_after=wait)
        address_hit = await enforce_rate_limit(
            self._limiter,
            attempt.address_key,
            self._settings.rate_limit_login_per_minute,
            ADDRESS_WINDOW_SECONDS,
            TOO_MANY,
        )
        account_hit = None
        if not await self._memory.is_known(account, address):
            account_hit = await enforce_rate_limit(
                self._limiter,
                attempt.account_key,
                self._settings.rate_limit_login_per_account_per_hour,
                ACCOUNT_WINDOW_SECONDS,
                TOO_MANY,
            )
        return LoginAttempt(address, account, address_hit, account_hit)

    async def failed(self, attempt: LoginAttempt) -> None:
        delay = await self._memory.record_failure(attempt.pair)
        if delay:
            logger.info("login failures from one address now delayed %ss", delay)

    async def succeeded(self, attempt: LoginAttempt) -> None:
        await self._limiter.forgive(attempt.address_hit)
        if attempt.account_hit is not None:
            await self._limiter.forgive(attempt.account_hit)
        await self._memory.clear_pair(attempt.pair)
        await self._memory.remember(attempt.account, attempt.address)
