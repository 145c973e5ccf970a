"""Single-use connection tickets: a logged-in client asks for one over HTTPS (with its bearer
token in a header) and passes it when it opens the stream, so no long-lived token ever appears
in a URL. A ticket is valid ``TICKET_TTL_SECONDS`` and works once.

With Redis the ticket is shared by every API process (``SET NX`` with a TTL, ``GETDEL`` on use);
in the embedded default, in this process's memory. Only a hash of the ticket is stored.

A ticket remembers the user's ``token_version`` when it was issued: logging out everywhere (or
changing the password) between issue and use makes it worthless, and the stream it opens ends
when that version changes.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.redis import key as redis_key

TICKET_TTL_SECONDS = 30


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TicketHolder:
    user_id: uuid.UUID
    token_version: int

    def stored(self) -> str:
        return f"{self.user_id} {self.token_version}"

    @classmethod
    def parse(cls, stored: str) -> TicketHolder | None:
        user_id, _, version = stored.partition(" ")
        if not version.isdigit():
            return None  # a ticket stored without its version: not trusted
        return cls(uuid.UUID(user_id), int(version))


class TicketStore(Protocol):
    async def issue(self, holder: TicketHolder) -> str: ...

    async def redeem(self, ticket: str) -> TicketHolder | None:
        """Who the ticket was issued to, once; None for an unknown, expired or used ticket."""
        ...


class RedisTickets:
    def __init__(self, settings: Settings, redis: Redis) -> None:
        self._settings = settings
        self._redis = redis

    def _key(self, ticket: str) -> str:
        return redis_key(self._settings, "live-ticket", _digest(ticket))

    async def issue(self, holder: TicketHolder) -> str:
        ticket = secrets.token_urlsafe(32)
        stored = await self._redis.set(
            self._key(ticket), holder.stored(), nx=True, ex=TICKET_TTL_SECONDS
        )
        if not stored:  # 256 random bits colliding: never, but never hand out a shared ticket
            raise RuntimeError("ticket collision")
        return ticket

    async def redeem(self, ticket: str) -> TicketHolder | None:
        value = await self._redis.getdel(self._key(ticket))
        if value is None:
            return None
        return TicketHolder.parse(value.decode() if isinstance(value, bytes) else str(value))


class MemoryTickets:
    """One API process (the embedded default): tickets live in its memory."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[TicketHolder, float]] = {}

    async def issue(self, holder: TicketHolder) -> str:
        now = self._clock()
        # Expired tickets go on every issue, so memory stays bounded by the issue rate.
        self._tickets = {k: v for k, v in self._tickets.items() if v[1] > now}
        ticket = secrets.token_urlsafe(32)
        self._tickets[_digest(ticket)] = (holder, now + TICKET_TTL_SECONDS)
        return ticket

    async def redeem(self, ticket: str) -> TicketHolder | None:
        entry = self._tickets.pop(_digest(ticket), None)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]


def create_tickets(settings: Settings, redis: Redis | None) -> TicketStore:
    return RedisTickets(settings, redis) if redis is not None else MemoryTickets()
