"""Bounded retries with exponential backoff and full jitter, for reads and cancels only.

Order creates never come through here: an ambiguous create is resolved by client order id, not
by sending it again (a repeated client id is accepted once the first order has filled).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from autogrid.exchanges.errors import ExchangeError, TemporaryExchangeError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` counts the first try; ``max_elapsed`` bounds the call, sleeps included."""

    max_attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_elapsed: float = 30.0

    def backoff(self, retry_number: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2**n)]."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry_number))
        return rng.uniform(0, ceiling)


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)


def is_temporary(error: BaseException) -> bool:
    return isinstance(error, TemporaryExchangeError)


async def retry_call(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy = DEFAULT_RETRY,
    *,
    retry_on: Callable[[BaseException], bool] = is_temporary,
    what: str = "exchange call",
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Await ``call()`` until it succeeds, fails with a non-retryable error, or the policy ends.

    A ``retry_after`` on the error (from Retry-After or the shared budget) is a floor for the
    delay; when honouring it would overrun ``max_elapsed`` the error is raised at once.
    """
    rng = rng or random.Random()
    started = clock()
    attempt = 1
    while True:
        try:
            return await call()
        except ExchangeError as error:
            if not retry_on(error) or attempt >= policy.max_attempts:
                raise
            delay = policy.backoff(attempt - 1, rng)
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                delay = max(delay, retry_after)
            if clock() - started + delay > policy.max_elapsed:
                raise
            logger.warning(
                "%s failed (attempt %d/%d), retrying in %.2fs: %s",
                what,
                attempt,
                policy.max_attempts,
                delay,
                error,
            )
        await sleep(delay)
        attempt += 1
