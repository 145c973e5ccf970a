"""The process's Redis client under a burst: calls past its pool's size wait for a connection
instead of failing as if Redis were down (which fail-open users, the rate limits first, take as
an outage)."""

from __future__ import annotations

import asyncio

from redis.asyncio import BlockingConnectionPool

from autogrid.core.config import Settings
from autogrid.core.redis import MAX_CONNECTIONS, create_redis


async def test_a_burst_past_the_pool_waits_for_connections(settings: Settings) -> None:
    redis = create_redis(settings)
    assert redis is not None
    try:
        replies = await asyncio.gather(
            *(redis.get("nothing-here") for _ in range(3 * MAX_CONNECTIONS)),
            return_exceptions=True,
        )
        assert replies == [None] * (3 * MAX_CONNECTIONS)
        pool = redis.connection_pool
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == MAX_CONNECTIONS
    finally:
        await redis.aclose()
    assert not pool._in_use_connections  # closed with the client: nothing left open
