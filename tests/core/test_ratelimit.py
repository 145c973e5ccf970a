from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.ratelimit import (
    InMemoryRateLimiter,
    RedisRateLimiter,
    create_rate_limiter,
    enforce_rate_limit,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=settings.redis_key_prefix + "*"):
            await client.delete(name)
        await client.aclose()


def fresh_key() -> str:
    return f"test:{uuid.uuid4().hex}"


# --- in memory ---


async def test_memory_allows_up_to_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(clock)
    for _ in range(3):
        assert (await limiter.hit("k", 3, 60)).allowed
        clock.now += 10
    rejected = await limiter.hit("k", 3, 60)
    assert not rejected.allowed
    assert rejected.hit_id is None
    # The oldest hit (t=1000) leaves the window at t=1060; now is t=1030.
    assert rejected.retry_after == 30


async def test_memory_window_slides() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(clock)
    assert (await limiter.hit("k", 1, 60)).allowed
    clock.now += 59
    assert not (await limiter.hit("k", 1, 60)).allowed
    clock.now += 1
    assert (await limiter.hit("k", 1, 60)).allowed


async def test_memory_rejected_hits_are_not_recorded() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(clock)
    assert (await limiter.hit("k", 1, 60)).allowed
    for _ in range(5):
        clock.now += 10
        assert not (await limiter.hit("k", 1, 60)).allowed
    clock.now = 1060
    assert (await limiter.hit("k", 1, 60)).allowed


async def test_memory_keys_are_independent() -> None:
    limiter = InMemoryRateLimiter(FakeClock())
    assert (await limiter.hit("a", 1, 60)).allowed
    assert not (await limiter.hit("a", 1, 60)).allowed
    assert (await limiter.hit("b", 1, 60)).allowed


async def test_memory_forgive_frees_exactly_one_slot() -> None:
    limiter = InMemoryRateLimiter(FakeClock())
    first = await limiter.hit("k", 2, 60)
    await limiter.hit("k", 2, 60)
    assert not (await limiter.hit("k", 2, 60)).allowed
    await limiter.forgive("k", first)
    assert (await limiter.hit("k", 2, 60)).allowed
    assert not (await limiter.hit("k", 2, 60)).allowed


async def test_memory_sweeps_idle_keys() -> None:
    clock = FakeClock()
    limiter = InMemoryRateLimiter(clock)
    for number in range(InMemoryRateLimiter._SWEEP_EVERY_HITS - 1):
        await limiter.hit(f"ip-{number}", 5, 60)
    clock.now += 61
    await limiter.hit("last", 5, 60)
    assert set(limiter._hits) == {"last"}


def test_factory_picks_memory_without_redis(settings: Settings) -> None:
    embedded = settings.model_copy(update={"redis_url": None})
    assert isinstance(create_rate_limiter(embedded, None), InMemoryRateLimiter)


# --- Redis ---


async def test_redis_allows_up_to_the_limit_under_the_prefix(
    settings: Settings, redis_client: Redis
) -> None:
    limiter = RedisRateLimiter(settings, redis_client)
    key = fresh_key()
    assert (await limiter.hit(key, 2, 60)).allowed
    assert (await limiter.hit(key, 2, 60)).allowed
    rejected = await limiter.hit(key, 2, 60)
    assert not rejected.allowed
    assert 59 <= rejected.retry_after <= 60
    stored = settings.redis_key_prefix + "ratelimit:" + key
    assert await redis_client.zcard(stored) == 2
    assert 0 < await redis_client.pttl(stored) <= 60_000


async def test_redis_window_slides(settings: Settings, redis_client: Redis) -> None:
    limiter = RedisRateLimiter(settings, redis_client)
    key = fresh_key()
    assert (await limiter.hit(key, 1, 1)).allowed
    rejected = await limiter.hit(key, 1, 1)
    assert not rejected.allowed
    assert rejected.retry_after == 1
    await asyncio.sleep(1.05)
    assert (await limiter.hit(key, 1, 1)).allowed


async def test_redis_is_atomic_under_concurrent_hits(
    settings: Settings, redis_client: Redis
) -> None:
    limiter = RedisRateLimiter(settings, redis_client)
    key = fresh_key()
    decisions = await asyncio.gather(*(limiter.hit(key, 5, 60) for _ in range(30)))
    assert sum(decision.allowed for decision in decisions) == 5


async def test_redis_forgive_frees_one_slot(settings: Settings, redis_client: Redis) -> None:
    limiter = RedisRateLimiter(settings, redis_client)
    key = fresh_key()
    first = await limiter.hit(key, 1, 60)
    assert not (await limiter.hit(key, 1, 60)).allowed
    await limiter.forgive(key, first)
    assert (await limiter.hit(key, 1, 60)).allowed


async def test_redis_outage_fails_closed(settings: Settings) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(settings, unreachable)
    with pytest.raises(ServiceUnavailable):
        await limiter.hit(fresh_key(), 5, 60)
    await unreachable.aclose()


async def test_enforce_raises_429_with_retry_after() -> None:
    limiter = InMemoryRateLimiter(FakeClock())
    await enforce_rate_limit(limiter, "k", 1, 60, "slow down")
    with pytest.raises(TooManyRequests) as caught:
        await enforce_rate_limit(limiter, "k", 1, 60, "slow down")
    assert caught.value.headers == {"Retry-After": "60"}
    assert caught.value.details == {"retry_after": 60}
