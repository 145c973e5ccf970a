"""Tickets work once, for 30 seconds, in Redis (shared by API processes) and in memory, and
remember the token version they were issued under."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.live.tickets import TICKET_TTL_SECONDS, MemoryTickets, RedisTickets, TicketHolder


async def test_a_memory_ticket_works_once_and_expires() -> None:
    now = [0.0]
    tickets = MemoryTickets(clock=lambda: now[0])
    user = TicketHolder(uuid.uuid4(), 3)
    used, expired = await tickets.issue(user), await tickets.issue(user)
    assert await tickets.redeem(used) == user
    assert await tickets.redeem(used) is None
    now[0] = TICKET_TTL_SECONDS
    assert await tickets.redeem(expired) is None
    assert await tickets.redeem("never-issued") is None


async def test_a_redis_ticket_works_once_with_a_ttl_and_stores_no_ticket(
    settings: Settings,
) -> None:
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    try:
        tickets = RedisTickets(settings, redis)
        user = TicketHolder(uuid.uuid4(), 0)
        ticket = await tickets.issue(user)
        keys = [k async for k in redis.scan_iter(match=settings.redis_key_prefix + "live-ticket:*")]
        assert len(keys) == 1 and ticket.encode() not in keys[0]
        assert 0 < await redis.ttl(keys[0]) <= TICKET_TTL_SECONDS
        assert await tickets.redeem(ticket) == user
        assert await tickets.redeem(ticket) is None
        # A ticket stored before tickets carried a version is not trusted.
        await redis.set(tickets._key("old"), str(user.user_id))
        assert await tickets.redeem("old") is None
    finally:
        await redis.delete(
            *[k async for k in redis.scan_iter(match=settings.redis_key_prefix + "*")] or ["-"]
        )
        await redis.aclose()
