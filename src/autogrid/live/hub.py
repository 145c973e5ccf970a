"""One feed per API process: it reads the journal in id order and hands each user's events to
that user's open streams.

The feed reads every user's new events (one indexed range query), so it can see the holes a
PostgreSQL reader must wait for (see ``ordering``), and releases events strictly in id order. It
reads when woken (a commit announced through Redis, see ``wakeup``) and, whatever happens to those
announcements, every ``poll_seconds``: the database is the source of truth, a wake-up only makes
delivery sooner.

A stream registers before it replays: every event above the feed's ``settled`` id at that
moment reaches the stream's buffer, every event up to it is in the database for the replay, so
replay plus buffer cover the journal with no gap, and the stream drops ids it already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Sequence

from autogrid.core.db import Database
from autogrid.live import repository
from autogrid.live.ordering import IdReleaser
from autogrid.models import Event

logger = logging.getLogger(__name__)

FEED_BATCH = 1_000
# A stream whose client reads slower than this many events behind is told to resync.
STREAM_BUFFER_LIMIT = 2_000


class Subscription:
    """One stream's buffer of live events for its user, filled by the feed."""

    def __init__(self, user_id: uuid.UUID, start_after: int, limit: int) -> None:
        self.user_id = user_id
        # The feed had settled every id up to here when the stream registered.
        self.start_after = start_after
        self._limit = limit
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def push(self, event: Event) -> None:
        if len(self._events) >= self._limit:
            self.overflowed = True
        else:
            self._events.append(event)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    async def next_batch(self) -> list[Event]:
        """Wait for events (or overflow, or close) and take everything buffered."""
        await self._ready.wait()
        self._ready.clear()
        batch = list(self._events)
        self._events.clear()
        return batch


# How long a stop waits for the feed's task to end.
STOP_WAIT_SECONDS = 2.0


class LiveHub:
    def __init__(
        self,
        database: Database,
        *,
        strict_order: bool,
        poll_seconds: float,
        gap_grace_seconds: float,
        buffer_limit: int = STREAM_BUFFER_LIMIT,
    ) -> None:
        self._database = database
        self._strict_order = strict_order
        self._poll_seconds = poll_seconds
        self._grace = gap_grace_seconds
        self._buffer_limit = buffer_limit
        self._releaser: IdReleaser | None = None
        self._by_user: dict[uuid.UUID, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self.delivered = 0

    def start(self) -> None:
        """Start the feed; it finds where the journal ends once the database answers (the API
        starts, and answers /health, without one)."""
        self._task = asyncio.create_task(self._run(), name="live-events-feed")

    async def stop(self) -> None:
        for subscriptions in self._by_user.values():
            for subscription in subscriptions:
                subscription.close()
        if self._task is not None:
            self._task.cancel()
            # Bounded: a cancellation swallowed inside a driver call must not hang the shutdown
            # (the task then ends at its next check, or with the loop).
            await asyncio.wait({self._task}, timeout=STOP_WAIT_SECONDS)
            self._task = None
        self._started.set()  # streams still waiting for the feed end now

    def wake(self) -> None:
        """New events were committed somewhere: read now rather than at the next poll."""
        self._wake.set()

    @property
    def settled(self) -> int:
        if self._releaser is None:
            raise RuntimeError("the live events feed is not started")
        return self._releaser.settled

    @property
    def holding_back(self) -> bool:
        """Whether read events wait behind an id hole (a transaction not committed yet)."""
        return self._releaser is not None and self._releaser.waiting

    async def subscribe(self, user_id: uuid.UUID) -> Subscription:
        """Register a stream; it waits for the feed to know where the journal ends."""
        await self._started.wait()
        settled = self._releaser.settled if self._releaser is not None else 0
        subscription = Subscription(user_id, settled, self._buffer_limit)
        if self._task is None:  # stopped: the stream ends at once
            subscription.close()
        self._by_user.setdefault(user_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._by_user.get(subscription.user_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_user[subscription.user_id]

    async def _run(self) -> None:
        await self._find_the_end()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            try:
                await self._read_all()
            except Exception:
                # The next poll tries again; a database outage must not end live delivery.
                logger.exception("live events: reading the journal failed")
                await asyncio.sleep(self._poll_seconds)

    async def _find_the_end(self) -> None:
        while self._releaser is None:
            try:
                async with self._database.session_scope() as session:
                    newest = await repository.newest_id(session)
            except Exception:
                logger.warning("live events: the journal cannot be read yet", exc_info=True)
                await asyncio.sleep(self._poll_seconds * 4)
                continue
            self._releaser = IdReleaser(newest, grace=self._grace, strict=self._strict_order)
        self._started.set()

    async def _read_all(self) -> None:
        """Read and release until nothing more can be released now."""
        assert self._releaser is not None
        while True:
            async with self._database.session_scope() as session:
                rows = await repository.events_after(session, self._releaser.settled, FEED_BATCH)
            released = self._releaser.release([row.id for row in rows], time.monotonic())
            self._dispatch(rows[:released])
            if released < FEED_BATCH:
                if self._releaser.waiting:
                    # Held back behind a hole: look again soon, not at the next poll.
                    self._wake_later(min(self._poll_seconds, self._grace / 4))
                return

    def _wake_later(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds, self._wake.set)

    def _dispatch(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscription in self._by_user.get(event.user_id, ()):
                subscription.push(event)
                self.delivered += 1
