"""retry_call: bounded attempts and time, full jitter, Retry-After honoured, only what may retry."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from autogrid.exchanges import errors as ours
from autogrid.exchanges.retry import RetryPolicy, is_temporary, retry_call
from tests.exchanges.fakes import FakeClock


class Flaky:
    """Fails with ``errors`` in order, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def run(
    call: Flaky,
    policy: RetryPolicy,
    clock: FakeClock,
    retry_on: Callable[[BaseException], bool] = is_temporary,
) -> str:
    return await retry_call(
        call, policy, retry_on=retry_on, sleep=clock.sleep, clock=clock, rng=random.Random(7)
    )


async def test_temporary_errors_are_retried_until_success() -> None:
    clock = FakeClock()
    call = Flaky(ours.TemporaryExchangeError("a"), ours.RateLimited("b"))
    assert await run(call, RetryPolicy(max_attempts=3), clock) == "ok"
    assert call.calls == 3 and len(clock.sleeps) == 2


async def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    call = Flaky(*[ours.TemporaryExchangeError(str(i)) for i in range(10)])
    with pytest.raises(ours.TemporaryExchangeError, match=r"^2$"):
        await run(call, RetryPolicy(max_attempts=3), clock)
    assert call.calls == 3


@pytest.mark.parametrize(
    "error",
    [
        ours.OrderOutcomeUnknown("x"),  # never retried by default: resolve by client id instead
        ours.OrderRejected("x"),
        ours.InsufficientFunds("x"),
        ours.AuthenticationFailed("x"),
        ours.FatalExchangeError("x"),
        ours.OrderNotFound("x"),
    ],
)
async def test_other_errors_are_raised_at_once(error: ours.ExchangeError) -> None:
    clock = FakeClock()
    call = Flaky(error)
    with pytest.raises(type(error)):
        await run(call, RetryPolicy(max_attempts=5), clock)
    assert call.calls == 1 and clock.sleeps == []


async def test_a_custom_predicate_widens_what_is_retried() -> None:
    clock = FakeClock()
    call = Flaky(ours.OrderOutcomeUnknown("cancel lost"))
    result = await run(
        call,
        RetryPolicy(),
        clock,
        retry_on=lambda e: isinstance(e, ours.TemporaryExchangeError | ours.OrderOutcomeUnknown),
    )
    assert result == "ok"


async def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    clock = FakeClock()
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=3.0, max_elapsed=1000)
    call = Flaky(*[ours.TemporaryExchangeError("x") for _ in range(7)])
    await run(call, policy, clock)
    caps = [min(3.0, 0.5 * 2**n) for n in range(7)]
    assert all(0 <= delay <= cap for delay, cap in zip(clock.sleeps, caps, strict=True))
    assert len(set(clock.sleeps)) == 7  # jittered, not a fixed schedule


async def test_retry_after_is_a_floor() -> None:
    clock = FakeClock()
    call = Flaky(ours.RateLimited("429", retry_after=4.0))
    await run(call, RetryPolicy(base_delay=0.1, max_elapsed=60), clock)
    assert clock.sleeps == [4.0]


async def test_total_time_is_bounded() -> None:
    clock = FakeClock()
    call = Flaky(*[ours.TemporaryExchangeError("x") for _ in range(100)])
    policy = RetryPolicy(max_attempts=100, base_delay=1, max_delay=1, max_elapsed=5)
    with pytest.raises(ours.TemporaryExchangeError):
        await run(call, policy, clock)
    assert clock.now - 1000.0 <= 5


async def test_a_retry_after_beyond_the_time_budget_fails_fast() -> None:
    clock = FakeClock()
    call = Flaky(ours.RateLimited("418 banned", retry_after=600))
    with pytest.raises(ours.RateLimited):
        await run(call, RetryPolicy(max_elapsed=30), clock)
    assert clock.sleeps == []


def test_backoff_grows_then_caps() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=5)

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert [policy.backoff(n, Top()) for n in range(5)] == [1, 2, 4, 5, 5]
