"""One open stream's side of the feed: the buffer of its user's live events, and how it ends
(closed by the server, or its user's access revoked)."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque

from autogrid.models import Event


class AccessRevoked(Exception):
    """The stream's user logged out everywhere, changed the password or was deactivated."""


class Subscription:
    """One stream's buffer of live events for its user, filled by the feed."""

    def __init__(self, user_id: uuid.UUID, token_version: int, limit: int) -> None:
        self.user_id = user_id
        # The user's token_version when the stream was authenticated; any other ends it.
        self.token_version = token_version
        # The feed had settled every id up to here when the stream registered (set by the hub).
        self.start_after = 0
        self._limit = limit
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False
        self.revoked = False

    def push(self, event: Event) -> None:
        if len(self._events) >= self._limit:
            self.overflowed = True
        else:
            self._events.append(event)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def revoke(self) -> None:
        self.revoked = True
        self.close()

    async def next_batch(self) -> list[Event]:
        """Wait for events (or overflow, or close) and take everything buffered; AccessRevoked
        once the user's access is gone (nothing buffered is sent then)."""
        await self._ready.wait()
        self._ready.clear()
        if self.revoked:
            raise AccessRevoked("access revoked: log in again")
        batch = list(self._events)
        self._events.clear()
        return batch
