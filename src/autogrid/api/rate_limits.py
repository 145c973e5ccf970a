"""The API rate limit: who is calling, what their budget is, and whether this request fits it.

A caller is the signed-in user when the request carries a valid access token (its claims name the
user, their plan and role: no database query), else the client's network (its IPv4 address or
IPv6 /64, counted as the login throttle counts them, stored hashed). An anonymous flood from one
address so never spends a user's budget, and two users never share one.

Budgets are moving windows ("120/minute": at most 120 requests in any 60 seconds, so no burst at
a window's edge), written as the ``limits`` library parses them, counted on the one moving window
every rate limit uses (:mod:`autogrid.core.moving_window`): in Redis, shared by every API process
(one atomic script per request, which also reads a signed-in caller's denylist entry and
epoch; the requests a process serves at once share round trips), or in process memory in the
embedded default.

A Redis outage fails open: a trader must never be locked out of stopping a bot because a cache is
down, and the database still guards every write. The outage is logged once, requests pass
unlimited, and Redis is asked again after ``OUTAGE_RECHECK_SECONDS`` (so a Redis that hangs does
not make every request wait for its timeout).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import RateLimitItem, parse
from redis.asyncio import Redis

from autogrid.auth.denylist import AccessCheck, denied_key, epoch_key
from autogrid.auth.login_guard import client_network
from autogrid.auth.tokens import TokenClaims, TokenType, decode_token
from autogrid.core.config import Settings
from autogrid.core.errors import Unauthorized
from autogrid.core.moving_window import (
    Clock,
    MovingWindow,
    WindowHit,
    WindowUnavailable,
    create_moving_window,
)
from autogrid.core.redis import key as redis_key
from autogrid.models.user import Role

logger = logging.getLogger(__name__)

OUTAGE_RECHECK_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose budget a request spends: ``user:<id>`` or ``address:<hashed network>``."""

    key: str
    limit: RateLimitItem
    # The verified access token's claims, for a signed-in caller: not part of who the caller is.
    claims: TokenClaims | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    limit: int
    window_seconds: int
    remaining: int
    # Whole seconds until the oldest counted request leaves the window (a refused caller may
    # retry then); 0 when nothing is counted.
    reset_seconds: int
    # A signed-in caller's denylist entry and epoch, when read in the same round trip.
    access: AccessCheck | None = None


class ApiRateLimits:
    """Each kind of caller's budget, from the settings (validated there at start-up)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.anonymous = parse(settings.rate_limit_api_anonymous)
        self.signal_source = parse(settings.signal_rate_limit)
        self.admin = parse(settings.rate_limit_api_admin)
        self.default = parse(settings.rate_limit_api_default)
        self.plans: dict[str, RateLimitItem] = {
            plan.value: parse(limit) for plan, limit in settings.rate_limit_api_plans.items()
        }

    def for_claims(self, claims: TokenClaims) -> RateLimitItem:
        if claims.role == Role.ADMIN:
            return self.admin
        # Tokens issued before plans were in them (or a plan no longer configured) get the default.
        return self.plans.get(claims.plan or "", self.default)

    def caller(self, authorization: str | None, client_host: str | None) -> Caller:
        """The signed-in user of a valid bearer access token, else the client's network.

        An invalid or expired token is an anonymous caller here; the route answers it 401.
        """
        token = _bearer_token(authorization)
        if token is not None:
            try:
                claims = decode_token(self._settings, token, TokenType.ACCESS)
            except Unauthorized:
                pass
            else:
                return Caller(f"user:{claims.user_id}", self.for_claims(claims), claims)
        return self.anonymous_caller(client_host)

    def anonymous_caller(self, client_host: str | None) -> Caller:
        network = client_network(client_host or "unknown")
        digest = hashlib.sha256(network.encode()).hexdigest()[:32]
        return Caller(f"address:{digest}", self.anonymous)

    def signal_source_caller(self, source_id: object) -> Caller:
        """Posts to the signal entry with a token that opens this source: a budget of its own,
        so the few addresses a service such as TradingView sends from are not one budget."""
        return Caller(f"signal-source:{source_id}", self.signal_source)


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class ApiRateLimiter:
    def __init__(
        self,
        limits: ApiRateLimits,
        window: MovingWindow,
        clock: Callable[[], float] = time.monotonic,
        access_keys: Callable[[TokenClaims], tuple[str, str]] | None = None,
    ) -> None:
        """``clock``: when to ask an unreachable store again (not the window's time).

        ``access_keys``: a signed-in caller's (denylist, epoch) keys, read with the hit when the
        window shares their store (Redis), so authentication needs no round trip of its own.
        """
        self.limits = limits
        self._access_keys = access_keys
        self._window = window
        self._clock = clock
        # While set, Redis is not asked (it was unreachable); the clock reading to ask again at.
        self._outage_until: float | None = None

    async def hit(self, caller: Caller) -> Verdict | None:
        """Count one request; None when the storage is unreachable (the request passes)."""
        if self._outage_until is not None and self._clock() < self._outage_until:
            return None
        try:
            also_read = None
            if caller.claims is not None and self._access_keys is not None:
                also_read = self._access_keys(caller.claims)
            counted = await self._window.hit(
                caller.key, caller.limit.amount, caller.limit.get_expiry(), also_read
            )
        except WindowUnavailable as error:
            if self._outage_until is None:
                logger.error(
                    "API rate limits are off: their storage is unreachable (%s); requests pass "
                    "unlimited until it answers",
                    type(error.cause).__name__,
                )
            self._outage_until = self._clock() + OUTAGE_RECHECK_SECONDS
            return None
        if self._outage_until is not None:
            self._outage_until = None
            logger.warning("API rate limits are back: their storage answers again")
        return Verdict(
            allowed=counted.allowed,
            limit=caller.limit.amount,
            window_seconds=caller.limit.get_expiry(),
            remaining=counted.remaining,
            reset_seconds=max(0, math.ceil(counted.reset_in)),
            access=_access_check(caller, counted),
        )


def _access_check(caller: Caller, counted: WindowHit) -> AccessCheck | None:
    if caller.claims is None or counted.exists is None:
        return None
    return AccessCheck(caller.claims.jti, counted.exists, counted.value)


def create_api_rate_limiter(
    settings: Settings, redis: Redis | None, window_clock: Clock | None = None
) -> ApiRateLimiter:
    """In Redis when it runs (the app's connection pool), else in this process's memory.
    ``window_clock`` (seconds) replaces the window's own clock: tests move time across an edge."""
    limits = ApiRateLimits(settings)
    window = create_moving_window(redis, redis_key(settings, "api-limit"), window_clock)
    if redis is None:
        return ApiRateLimiter(limits, window)

    def access_keys(claims: TokenClaims) -> tuple[str, str]:
        return denied_key(settings, claims.jti), epoch_key(settings, claims.user_id)

    return ApiRateLimiter(limits, window, access_keys=access_keys)
