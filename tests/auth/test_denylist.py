from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis

from autogrid.auth.denylist import InMemoryAccessTokenDenylist, RedisAccessTokenDenylist
from autogrid.core.config import Settings
from autogrid.core.errors import ServiceUnavailable
from autogrid.core.sqltypes import utcnow


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


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def test_memory_denies_until_expiry_and_forgets_after() -> None:
    clock = Clock()
    denylist = InMemoryAccessTokenDenylist(clock)
    await denylist.deny("a", clock.now + timedelta(seconds=60))
    await denylist.deny("gone", clock.now - timedelta(seconds=1))
    assert await denylist.is_denied("a")
    assert not await denylist.is_denied("gone")
    assert not await denylist.is_denied("b")
    clock.now += timedelta(seconds=61)
    assert not await denylist.is_denied("a")
    await denylist.deny("c", clock.now + timedelta(seconds=5))
    assert set(denylist._denied_until) == {"c"}  # expired entries were dropped


async def test_redis_denies_with_a_ttl_under_the_prefix(
    settings: Settings, redis_client: Redis
) -> None:
    denylist = RedisAccessTokenDenylist(settings, redis_client)
    jti = uuid.uuid4().hex
    await denylist.deny(jti, utcnow() + timedelta(seconds=120))
    assert await denylist.is_denied(jti)
    assert not await denylist.is_denied(uuid.uuid4().hex)
    ttl = await redis_client.ttl(settings.redis_key_prefix + "auth:denied-access-jti:" + jti)
    assert 115 <= ttl <= 121
    expired = uuid.uuid4().hex
    await denylist.deny(expired, utcnow() - timedelta(seconds=1))
    assert not await denylist.is_denied(expired)


async def test_redis_outage_fails_closed(settings: Settings) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    denylist = RedisAccessTokenDenylist(settings, unreachable)
    with pytest.raises(ServiceUnavailable):
        await denylist.is_denied("any")
    await unreachable.aclose()
