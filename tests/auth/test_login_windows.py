"""The login guard's per-address and per-account windows are exact, on Redis and in memory: no
second budget across a window's edge, a successful login frees only its own slot, and parallel
attempts never get past the limit.

Time is an injected clock: the tests step it across a window's edge instead of waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from autogrid.auth.login_guard import (
    ACCOUNT_WINDOW_SECONDS,
    ADDRESS_WINDOW_SECONDS,
    InMemoryLoginMemory,
    LoginGuard,
    LoginMemory,
    RedisLoginMemory,
)
from autogrid.core.config import Settings
from autogrid.core.errors import TooManyRequests
from autogrid.core.ratelimit import create_rate_limiter
from autogrid.core.redis import key as redis_key

START = 1_800_000_000.0
PER_ADDRESS = 5
PER_ACCOUNT = 4


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = round(START + seconds, 3)


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        for part in ("ratelimit", "login"):
            async for name in client.scan_iter(match=redis_key(settings, part, "*")):
                await client.delete(name)
        await client.aclose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["redis", "memory"])
def guard(request: pytest.FixtureRequest, settings: Settings, clock: FakeClock) -> LoginGuard:
    limited = settings.model_copy(
        update={
            "rate_limit_login_per_minute": PER_ADDRESS,
            "rate_limit_login_per_account_per_hour": PER_ACCOUNT,
        }
    )
    if request.param == "memory":
        memory: LoginMemory = InMemoryLoginMemory(clock)
        return LoginGuard(limited, create_rate_limiter(limited, None, clock), memory)
    client: Redis = request.getfixturevalue("redis_client")
    limiter = create_rate_limiter(limited, client, clock)
    return LoginGuard(limited, limiter, RedisLoginMemory(limited, client))


def address() -> str:
    return f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def email() -> str:
    return f"{uuid.uuid4().hex}@example.com"


async def admitted(guard: LoginGuard, client_ip: str, emails: list[str]) -> int:
    """How many of these attempts (each failing its password) the guard let through."""
    count = 0
    for account in emails:
        try:
            attempt = await guard.admit(client_ip, account)
        except TooManyRequests:
            continue
        await guard.failed(attempt)
        count += 1
    return count


async def test_an_address_gets_its_budget_once_across_a_window_edge(
    guard: LoginGuard, clock: FakeClock
) -> None:
    """A sliding window counter let a full budget through just before its edge and close to
    another one just after; an exact window refuses until the burst's first attempt leaves."""
    sprayer = address()
    clock.at(ADDRESS_WINDOW_SECONDS - 0.1)
    assert await admitted(guard, sprayer, [email() for _ in range(PER_ADDRESS)]) == PER_ADDRESS
    for seconds in (0.2, 1, 15, 30, 45, ADDRESS_WINDOW_SECONDS - 0.3):
        clock.at(ADDRESS_WINDOW_SECONDS - 0.1 + seconds)
        with pytest.raises(TooManyRequests) as refused:
            await guard.admit(sprayer, email())
        assert refused.value.headers is not None
        assert 1 <= int(refused.value.headers["Retry-After"]) <= ADDRESS_WINDOW_SECONDS
    clock.at(2 * ADDRESS_WINDOW_SECONDS - 0.1)
    assert await admitted(guard, sprayer, [email() for _ in range(PER_ADDRESS + 2)]) == PER_ADDRESS


async def test_an_account_gets_its_budget_once_across_a_window_edge(
    guard: LoginGuard, clock: FakeClock
) -> None:
    target = email()
    clock.at(ACCOUNT_WINDOW_SECONDS - 0.1)
    assert sum([await admitted(guard, address(), [target]) for _ in range(PER_ACCOUNT)]) == 4
    for seconds in (0.2, 60, ACCOUNT_WINDOW_SECONDS / 2, ACCOUNT_WINDOW_SECONDS - 0.3):
        clock.at(ACCOUNT_WINDOW_SECONDS - 0.1 + seconds)
        assert await admitted(guard, address(), [target]) == 0, seconds
    clock.at(2 * ACCOUNT_WINDOW_SECONDS - 0.1)
    assert sum([await admitted(guard, address(), [target]) for _ in range(PER_ACCOUNT + 1)]) == 4


async def test_a_successful_login_frees_its_own_slot_and_no_other(
    guard: LoginGuard, clock: FakeClock
) -> None:
    home = address()
    assert await admitted(guard, home, [email()]) == 1  # at 0 s, leaves at 60 s
    clock.at(20)
    success = await guard.admit(home, email())
    await guard.succeeded(success)
    # A repeated success handler gives nothing more back.
    await guard.succeeded(success)
    clock.at(40)
    assert await admitted(guard, home, [email() for _ in range(PER_ADDRESS)]) == PER_ADDRESS - 1
    # The failure at 0 s still counts until 60 s: the success freed its own slot, not that one.
    clock.at(59.9)
    with pytest.raises(TooManyRequests):
        await guard.admit(home, email())
    clock.at(60)
    assert await admitted(guard, home, [email(), email()]) == 1


async def test_parallel_attempts_from_one_address_never_exceed_its_window(
    guard: LoginGuard,
) -> None:
    sprayer = address()
    results = await asyncio.gather(
        *(guard.admit(sprayer, email()) for _ in range(30)), return_exceptions=True
    )
    refused = [result for result in results if isinstance(result, TooManyRequests)]
    assert len(results) - len(refused) == PER_ADDRESS
    assert all(isinstance(result, TooManyRequests) for result in refused)


async def test_parallel_attempts_at_one_account_never_exceed_its_window(
    guard: LoginGuard,
) -> None:
    target = email()
    results = await asyncio.gather(
        *(guard.admit(address(), target) for _ in range(30)), return_exceptions=True
    )
    assert sum(not isinstance(result, BaseException) for result in results) == PER_ACCOUNT
    assert all(
        isinstance(result, TooManyRequests) for result in results if isinstance(result, Exception)
    )
