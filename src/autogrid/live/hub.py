"""One feed per API process: it reads the journal in id order and hands each user's events to
that user's open streams.

The feed reads every user's new events (one indexed range query), so it can see the holes a
PostgreSQL reader must wait for (see ``ordering``), and releases events strictly in id order. It
reads when woken (a commit announced through Redis, see ``wakeup``) and, whatever happens to those
announcements, every ``poll_seconds``: the database is the source of truth, a wake-up only makes
delivery sooner.

The feed runs only while a stream is open: the first stream starts it, it ends after the last one
left. Each start finds where the journal ends again. On PostgreSQL it starts before the first id
hole among the journal's last ``START_LOOKBACK`` ids, so an event whose transaction was still
open then (a hole below the end) is waited for like any other hole instead of being skipped.

A stream registers before it replays: every event above the feed's ``settled`` id at that
moment reaches the stream's buffer, every event up to it is in the database for the replay, so
replay plus buffer cover the journal with no gap, and the stream drops ids it already sent.

While streams are open the feed also checks, every ``access_check_seconds`` and in one query for
all of them, that their users are still active with the ``token_version`` they connected with;
a stream whose user logged out everywhere, changed the password or was deactivated is revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.live import repository
from autogrid.live.ordering import IdReleaser
from autogrid.live.subscription import Subscription
from autogrid.live.transactions import transaction_horizon
from autogrid.models import Event

logger = logging.getLogger(__name__)

FEED_BATCH = 1_000
# How far below the journal's end a (re)started PostgreSQL feed looks for holes a transaction
# still open may fill. A transaction open that many ids long is past any grace anyway.
START_LOOKBACK = FEED_BATCH
# A stream whose client reads slower than this many events behind is told to resync.
STREAM_BUFFER_LIMIT = 2_000
# While ids are held back, the first look again comes this soon, each next one twice as late.
HOLE_RECHECK_SECONDS = 0.05
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
        access_check_seconds: float,
        buffer_limit: int = STREAM_BUFFER_LIMIT,
    ) -> None:
        self._database = database
        self._strict_order = strict_order
        self._poll_seconds = poll_seconds
        self._grace = gap_grace_seconds
        self._access_check_seconds = access_check_seconds
        self._buffer_limit = buffer_limit
        self._releaser: IdReleaser | None = None
        self._by_user: dict[uuid.UUID, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._positioned = asyncio.Event()
        self._stopped = False
        self._held_reads = 0

    async def stop(self) -> None:
        self._stopped = True
        for subscriptions in self._by_user.values():
            for subscription in subscriptions:
                subscription.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: a cancellation swallowed inside a driver call must not hang the shutdown
            # (the task then ends at its next check, or with the loop).
            await asyncio.wait({task}, timeout=STOP_WAIT_SECONDS)
        self._positioned.set()  # streams still waiting for the feed end now

    def wake(self) -> None:
        """New events were committed somewhere: read now rather than at the next poll."""
        self._wake.set()

    @property
    def feeding(self) -> bool:
        """Whether the feed runs (it does only while streams are open)."""
        return self._task is not None

    @property
    def holding_back(self) -> bool:
        """Whether read events wait behind an id hole (a transaction not committed yet)."""
        return self._releaser is not None and self._releaser.waiting

    async def subscribe(self, user_id: uuid.UUID, token_version: int) -> Subscription:
        """Register a stream (starting the feed if it is idle); it waits for the feed to know
        where the journal ends."""
        subscription = Subscription(user_id, token_version, self._buffer_limit)
        if self._stopped:
            subscription.close()
            return subscription
        # Registered first: a registered stream keeps the feed running.
        self._by_user.setdefault(user_id, set()).add(subscription)
        try:
            if self._task is None:
                self._task = asyncio.create_task(self._run(), name="live-events-feed")
            await self._positioned.wait()
        except BaseException:
            self.unsubscribe(subscription)
            raise
        if self._stopped or self._releaser is None:
            subscription.close()
        else:
            # Read after registering: every id above it is released later, so it is pushed.
            subscription.start_after = self._releaser.settled
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._by_user.get(subscription.user_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._by_user[subscription.user_id]
        if not self._by_user:
            self._wake.set()  # the feed notices it is idle now, not at its next poll

    async def _run(self) -> None:
        try:
            await self._position()
            next_access_check = time.monotonic() + self._access_check_seconds
            while self._by_user:
                until_check = max(0.0, next_access_check - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), min(self._poll_seconds, until_check))
                self._wake.clear()
                if not self._by_user:
                    break
                try:
                    if time.monotonic() >= next_access_check:
                        await self._check_access()
                        next_access_check = time.monotonic() + self._access_check_seconds
                    await self._read_all()
                except Exception:
                    # The next poll tries again; a database outage must not end live delivery.
                    logger.exception("live events: reading the journal failed")
                    await asyncio.sleep(self._poll_seconds)
        finally:
            # Idle (no stream left) or stopped: the next stream starts a feed from the end.
            if self._task is asyncio.current_task():
                self._task = None
                self._releaser = None
                self._held_reads = 0
                self._positioned.clear()

    async def _position(self) -> None:
        """Find where the journal ends; streams registered meanwhile wait for it."""
        while self._releaser is None:
            try:
                async with self._database.session_scope() as session:
                    start = await self._start_id(session)
            except Exception:
                logger.warning("live events: the journal cannot be read yet", exc_info=True)
                await asyncio.sleep(self._poll_seconds * 4)
                if not self._by_user:
                    return
                continue
            self._releaser = IdReleaser(start, grace=self._grace, strict=self._strict_order)
        self._positioned.set()

    async def _start_id(self, session: AsyncSession) -> int:
        """The journal's end or, on PostgreSQL, the id before its first recent hole."""
        newest = await repository.newest_id(session)
        if not self._strict_order:
            return newest
        recent = await repository.ids_after(session, newest - START_LOOKBACK, START_LOOKBACK)
        return _before_first_hole(recent, default=newest)

    async def _read_all(self) -> None:
        """Read and release until nothing more can be released now."""
        releaser = self._releaser
        assert releaser is not None
        while True:
            before = after = None
            async with self._database.session_scope() as session:
                if self._strict_order and releaser.waiting:
                    before = await transaction_horizon(session)
                rows = await repository.events_after(session, releaser.settled, FEED_BATCH)
                ids = [row.id for row in rows]
                if self._strict_order and _has_hole(releaser.settled, ids):
                    after = await transaction_horizon(session)
            released = releaser.release(
                ids, time.monotonic(), running_before=before, running_after=after
            )
            self._dispatch(rows[:released])
            if released < FEED_BATCH:
                if releaser.waiting:
                    # Held back behind a hole: look again soon (a rollback's hole is given up at
                    # the next look), less often the longer a transaction stays open.
                    self._wake_later(self._recheck_delay())
                    self._held_reads += 1
                else:
                    self._held_reads = 0
                return

    def _recheck_delay(self) -> float:
        backoff = HOLE_RECHECK_SECONDS * float(2 ** min(self._held_reads, 16))
        return min(backoff, self._poll_seconds, self._grace / 4)

    def _wake_later(self, seconds: float) -> None:
        asyncio.get_running_loop().call_later(seconds, self._wake.set)

    def _dispatch(self, events: Sequence[Event]) -> None:
        for event in events:
            for subscription in self._by_user.get(event.user_id, ()):
                subscription.push(event)

    async def _check_access(self) -> None:
        """Revoke every stream whose user is no longer active with the token version the stream
        was authenticated with (one query for all the process's streams)."""
        users = list(self._by_user)
        async with self._database.session_scope() as session:
            versions = await repository.token_versions_of_active(session, users)
        for user_id in users:
            for subscription in list(self._by_user.get(user_id, ())):
                if versions.get(user_id) != subscription.token_version:
                    subscription.revoke()


def _before_first_hole(ids: Sequence[int], default: int) -> int:
    """The last id (ascending ``ids``) before the first one missing among them."""
    for previous, id_ in itertools.pairwise(ids):
        if id_ != previous + 1:
            return previous
    return ids[-1] if ids else default


def _has_hole(settled: int, ids: Sequence[int]) -> bool:
    """Whether ids (ascending, above ``settled``) skip any id: only then do snapshots matter."""
    return bool(ids) and ids[-1] - settled != len(ids)
