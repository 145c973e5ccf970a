from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from redis.asyncio import Redis

from autogrid.auth.denylist import (
    EPOCHS_KEPT,
    AccessTokenDenylist,
    InMemoryAccessTokenDenylist,
    RedisAccessTokenDenylist,
)
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


async def is_denied(denylist: AccessTokenDenylist, jti: str) -> bool:
    denied, _ = await denylist.check(jti, uuid.uuid4())
    return denied


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
    assert await is_denied(denylist, "a")
    assert not await is_denied(denylist, "gone")
    assert not await is_denied(denylist, "b")
    clock.now += timedelta(seconds=61)
    assert not await is_denied(denylist, "a")
    await denylist.deny("c", clock.now + timedelta(seconds=5))
    assert set(denylist._denied_until) == {"c"}  # expired entries were dropped


async def test_redis_denies_with_a_ttl_under_the_prefix(
    settings: Settings, redis_client: Redis
) -> None:
    denylist = RedisAccessTokenDenylist(settings, redis_client)
    jti = uuid.uuid4().hex
    await denylist.deny(jti, utcnow() + timedelta(seconds=120))
    assert await is_denied(denylist, jti)
    assert not await is_denied(denylist, uuid.uuid4().hex)
    ttl = await redis_client.ttl(settings.redis_key_prefix + "auth:denied-access-jti:" + jti)
    assert 115 <= ttl <= 121
    expired = uuid.uuid4().hex
    await denylist.deny(expired, utcnow() - timedelta(seconds=1))
    assert not await is_denied(denylist, expired)


async def test_redis_outage_fails_closed(settings: Settings) -> None:
    unreachable = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    denylist = RedisAccessTokenDenylist(settings, unreachable)
    with pytest.raises(ServiceUnavailable):
        await is_denied(denylist, "any")
    await unreachable.aclose()


async def test_memory_keeps_the_epochs_of_the_users_seen_most_recently() -> None:
    denylist = InMemoryAccessTokenDenylist()
    users = [uuid.uuid4() for _ in range(EPOCHS_KEPT + 500)]
    for user in users:
        await denylist.ensure_epoch(user)
    await denylist.bump_epoch(uuid.uuid4())
    assert len(denylist._epochs) == EPOCHS_KEPT


async def test_memory_an_epoch_dropped_comes_back_fresh_never_as_before() -> None:
    """What a cached row was trusted under is never vouched for again once dropped."""
    denylist = InMemoryAccessTokenDenylist(epochs_kept=2)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    kept_epoch = await denylist.ensure_epoch(kept)
    dropped_epoch = await denylist.ensure_epoch(dropped)
    # Read by a request: now the most recently seen of the two.
    assert await denylist.check("jti", kept) == (False, kept_epoch)
    await denylist.ensure_epoch(uuid.uuid4())
    assert await denylist.check("jti", kept) == (False, kept_epoch)
    assert await denylist.check("jti", dropped) == (False, None)
    assert await denylist.ensure_epoch(dropped) != dropped_epoch
