"""Single-use connection tickets: a logged-in client asks for one over HTTPS (with its bearer
token in a header) and passes it when it opens the stream, so no long-lived token ever appears
in a URL. A ticket is valid ``TICKET_TTL_SECONDS`` and works once.

With Redis the ticket is shared by every API process (``SET NX`` with a TTL, ``GETDEL`` on use);
in the embedded default, in this process's memory. Only a hash of the ticket is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.redis import key as redis_key

TICKET_TTL_SECONDS = 30


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore(Protocol):
    async def issue(self, user_id: uuid.UUID) -> str: ...

    async def redeem(self, ticket: str) -> uuid.UUID | None:
        """The ticket's user, once; None for an unknown, expired or already used ticket."""
        ...


class RedisTickets:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis

    def _key(self, ticket: str) -> str:
        return redis_key(self._settings, "live-ticket", _digest(ticket))

    async def issue(self, user_id: uuid.UUID) -> str:
        ticket = secrets.token_urlsafe(32)
        stored = await self._redis.set(
            self._key(ticket), str(user_id), nx=True, ex=TICKET_TTL_SECONDS
        )
        if not stored:  # 256 random bits colliding: never, but never hand out a shared ticket
            raise RuntimeError("ticket collision")
        return ticket

    async def redeem(self, ticket: str) -> uuid.UUID | None:
        value = await self._redis.getdel(self._key(ticket))
        if value is None:
            return None
        return uuid.UUID(value.decode() if isinstance(value, bytes) else str(value))


class MemoryTickets:
    """One API process (the embedded default): tickets live in its memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[uuid.UUID, float]] = {}

    async def issue(self, user_id: uuid.UUID) -> str:
        now = self._clock()
        # Expired tickets go on every issue, so memory stays bounded by the issue rate.
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        ticket = secrets.token_urlsafe(32)
        self._tickets[_digest(ticket)] = (user_id, now + TICKET_TTL_SECONDS)
        return ticket

    async def redeem(self, ticket: str) -> uuid.UUID | None:
        entry = self._tickets.pop(_digest(ticket), None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]


def create_tickets(settings: Settings, redis: Redis | None) -> TicketStore:
    return RedisTickets(settings, redis) if redis is not None else MemoryTickets()
