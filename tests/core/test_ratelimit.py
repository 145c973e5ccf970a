"""The route limiter on the shared moving window, on Redis and in memory: limits, Retry-After,
giving a hit back, atomicity, and failing closed when Redis is down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable, TooManyRequests
from autogrid.core.moving_window import MemoryMovingWindow, RedisMovingWindow
from autogrid.core.ratelimit import RateLimiter, create_rate_limiter, enforce_rate_limit


@pytest.fixture
async def redis_client(settings: Settings) -> AsyncIterator[Redis]:
    assert settings.redis_url
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        async for name in client.scan_iter(match=settings.redis_key_prefix + "ratelimit:*"):
            await client.delete(name)
        await client.aclose()


@pytest.fixture(params=["redis", "memory"])
def limiter(request: pytest.FixtureRequest, settings: Settings) -> RateLimiter:
    if request.param == "memory":
        return create_rate_limiter(settings, None)
    client: Redis = request.getfixturevalue("redis_client")
    return create_rate_limiter(settings, client)


def fresh_key() -> str:
    return f"test:{uuid.uuid4().hex}"


async def test_allows_up_to_the_limit_then_says_how_long_to_wait(limiter: RateLimiter) -> None:
    key = fresh_key()
    for _ in range(3):
        assert (await limiter.hit(key, 3, 60)).allowed
    refused = await limiter.hit(key, 3, 60)
    assert not refused.allowed
    assert refused.recorded is None
    assert 1 <= refused.retry_after <= 60
    # Keys are independent.
    assert (await limiter.hit(fresh_key(), 3, 60)).allowed


async def test_exact_window_waits_until_the_oldest_hit_leaves(limiter: RateLimiter) -> None:
    key = fresh_key()
    await limiter.hit(key, 1, 3600)
    assert (await limiter.hit(key, 1, 3600)).retry_after >= 3599


async def test_forgive_gives_exactly_one_hit_back(limiter: RateLimiter) -> None:
    key = fresh_key()
    first = await limiter.hit(key, 2, 60)
    await limiter.hit(key, 2, 60)
    assert not (await limiter.hit(key, 2, 60)).allowed
    await limiter.forgive(first)
    # A give-back repeated (a retried success handler) frees nothing more: it was a counter's
    # hit of cost -1 each time, and two of them freed two slots.
    await limiter.forgive(first)
    assert (await limiter.hit(key, 2, 60)).allowed
    assert not (await limiter.hit(key, 2, 60)).allowed


async def test_forgiving_a_refused_hit_gives_nothing_back(limiter: RateLimiter) -> None:
    key = fresh_key()
    await limiter.hit(key, 1, 60)
    refused = await limiter.hit(key, 1, 60)
    await limiter.forgive(refused)
    assert not (await limiter.hit(key, 1, 60)).allowed


async def test_concurrent_hits_never_exceed_the_limit(limiter: RateLimiter) -> None:
    key = fresh_key()
    decisions = await asyncio.gather(*(limiter.hit(key, 5, 60) for _ in range(30)))
    assert sum(decision.allowed for decision in decisions) == 5


async def test_redis_keys_live_under_the_deployment_prefix(
    settings: Settings, redis_client: Redis
) -> None:
    limiter = create_rate_limiter(settings, redis_client)
    key = fresh_key()
    await limiter.hit(key, 2, 60)
    names = [name.decode() async for name in redis_client.scan_iter(match=f"*{key}*")]
    assert len(names) == 1
    assert names[0].startswith(settings.redis_key_prefix + "ratelimit:")


def test_storage_follows_the_deployment(settings: Settings, redis_client: Redis) -> None:
    assert isinstance(create_rate_limiter(settings, None).window, MemoryMovingWindow)
    assert isinstance(create_rate_limiter(settings, redis_client).window, RedisMovingWindow)


async def test_redis_outage_fails_closed(settings: Settings) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = create_rate_limiter(settings, unreachable)
    try:
        with pytest.raises(ServiceUnavailable):
            await limiter.hit(fresh_key(), 5, 60)
    finally:
        await unreachable.aclose()


async def test_enforce_raises_429_with_retry_after() -> None:
    limiter = RateLimiter(MemoryMovingWindow())
    await enforce_rate_limit(limiter, "k", 1, 60, "slow down")
    with pytest.raises(TooManyRequests) as caught:
        await enforce_rate_limit(limiter, "k", 1, 60, "slow down")
    assert caught.value.details is not None
    retry_after = caught.value.details["retry_after"]
    assert 59 <= retry_after <= 60
    assert caught.value.headers == {"Retry-After": str(retry_after)}
