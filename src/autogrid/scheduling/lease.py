"""The lease: at most one worker drives a bot at a time.

Taken with a conditional UPDATE of ``bots.lease_owner/lease_expires_at`` and committed before
anything else; renewed as a tick goes on, so a long tick (a replay catching up, a slow exchange)
keeps it; given back at the end. A tick that cannot take the lease exits: someone else is on it.
A worker that dies leaves a lease that expires after ``ttl``; the bot is then free again, and the
next holder resolves whatever the dead one left in flight (SUBMITTING orders become UNKNOWN).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Collection
from datetime import datetime, timedelta

from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.engine.guard import count_trip
from autogrid.engine.leasing import LeaseLost
from autogrid.engine.wrapup import StepEnd, wrap_up
from autogrid.models import Bot
from autogrid.orders import store as order_repository
from autogrid.orders.values import OrderView
from autogrid.scheduling import repository as leases
from autogrid.trading.risk import TripCode

logger = logging.getLogger(__name__)


def new_owner(ctx: RuntimeContext) -> str:
    return f"{ctx.owner}/{uuid.uuid4().hex[:8]}"


class QuietReleases:
    """A batch's quiet leases, given back together (a group commit): a quiet tick waits until
    its lease is given back, as ever, but the leases of the ticks that end while one release
    is on its way go back together in the next statement, not one statement each."""

    def __init__(self, ctx: RuntimeContext, owner: str) -> None:
        self.ctx = ctx
        self.owner = owner
        self._waiting: list[tuple[uuid.UUID, datetime | None, asyncio.Future[None]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def release(self, bot_id: uuid.UUID, next_at: datetime | None) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((bot_id, next_at, done))
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())
        await done

    async def _drain(self) -> None:
        group: list[tuple[uuid.UUID, datetime | None, asyncio.Future[None]]] = []
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                releases = [(bot_id, next_at) for bot_id, next_at, _ in group]
                try:
                    await leases.release_leases_now(
                        self.ctx.database.engine, self.owner, self.ctx.clock(), releases
                    )
                except Exception as error:  # each waiting tick hears of it
                    _settle(group, error)
                else:
                    _settle(group, None)
        finally:
            self._drainer = None
            # Cancelled (the loop is shutting down): whoever waits is told; these leases
            # expire as a dead worker's do.
            _settle([*group, *self._waiting], asyncio.CancelledError())
            self._waiting = []


def _settle(
    group: list[tuple[uuid.UUID, datetime | None, asyncio.Future[None]]],
    error: BaseException | None,
) -> None:
    for *_, done in group:
        if done.done():
            continue
        if error is None:
            done.set_result(None)
        elif isinstance(error, asyncio.CancelledError):
            done.cancel()
        else:
            done.set_exception(error)


class Lease:
    """One holding of a bot's lease; what the bot step runs under (``engine.leasing``)."""

    def __init__(self, ctx: RuntimeContext, bot_id: uuid.UUID, owner: str | None = None) -> None:
        self.ctx = ctx
        self.bot_id = bot_id
        self.ttl: timedelta = ctx.options.lease_ttl
        # One owner per lease (or per batch of distinct bots), not per process: two ticks of
        # one bot in the same process (a duplicated message) exclude each other too.
        self.owner = owner or new_owner(ctx)
        self.held = False
        self._renewed = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._beating: asyncio.Future[None] | None = None
        # Read in the statement that took the lease (one round trip less per tick).
        self.bot: Bot | None = None
        # The previous holder did not give it back (it died or stalled).
        self.taken_over = False
        # Signals were queued for the bot when the lease was taken.
        self.signals_queued = False
        # The bot's non-terminal orders and waiting fills, read with the lease (same round trips).
        self._read: tuple[list[OrderView], int] | None = None
        # Taken with a batch: its quiet leases go back together.
        self._quiet_releases: QuietReleases | None = None

    @property
    def database(self) -> Database:
        return self.ctx.database

    async def acquire(self) -> bool:
        """Take the lease and read the bot row with it."""
        async with self.database.session_scope() as session:
            taken = await leases.take_lease(
                session, self.bot_id, self.owner, self.ctx.clock(), self.ttl
            )
            if taken is not None:
                self.bot, self.taken_over = taken.bot, taken.taken_over
                self.signals_queued = taken.signals_queued
                live = await order_repository.live_order_rows(session, self.bot_id)
                self._read = (live, taken.waiting_fills)
        self.held = self.bot is not None
        self._renewed = time.monotonic()
        return self.held

    @classmethod
    async def take_many(
        cls, ctx: RuntimeContext, bot_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Lease]:
        """``acquire`` for many distinct bots in one transaction of three round trips, whatever
        their number: the leases taken, by bot id. They share one owner (the batch's)."""
        owner = new_owner(ctx)
        async with ctx.database.session_scope() as session:
            taken = await leases.take_leases(
                session, bot_ids, owner, ctx.clock(), ctx.options.lease_ttl
            )
            live = await order_repository.live_order_rows_of(session, list(taken))
        held: dict[uuid.UUID, Lease] = {}
        renewed, releases = time.monotonic(), QuietReleases(ctx, owner)
        for bot_id, took in taken.items():
            lease = held[bot_id] = cls(ctx, bot_id, owner)
            lease.bot, lease.taken_over, lease.held = took.bot, took.taken_over, True
            lease.signals_queued = took.signals_queued
            lease._read = (live[bot_id], took.waiting_fills)
            lease._renewed, lease._quiet_releases = renewed, releases
        return held

    def take_read(self) -> tuple[list[OrderView], int] | None:
        """The live orders and waiting fills read with the lease, once."""
        read, self._read = self._read, None
        return read

    async def release(self, end: StepEnd) -> None:
        """Give the lease back, writing what the step left (``engine.wrapup``) in the same
        transaction; a quiet step's lease is simply released."""
        now = self.ctx.clock()
        if end.quiet and self._quiet_releases is not None:
            await self._quiet_releases.release(self.bot_id, end.next_at)
            return
        if end.quiet:
            await leases.release_lease_now(
                self.database.engine, self.bot_id, self.owner, now, end.next_at
            )
            return
        async with self.database.session_scope() as session:
            tripped = await wrap_up(session, self.owner, self.bot_id, end, now)
            await leases.release_lease(session, self.bot_id, self.owner, now, end.next_at)
        if tripped:
            count_trip(TripCode.CONSECUTIVE_ERRORS)

    async def keep(self) -> None:
        """Renew once a third of the lifetime has passed; raise LeaseLost if it is gone.
        Called between the steps of a tick (the heartbeat covers long exchange calls)."""
        if not self.held:
            raise LeaseLost(str(self.bot_id))
        if time.monotonic() - self._renewed < self.ttl.total_seconds() / 3:
            return
        if not await self._renew():
            raise LeaseLost(str(self.bot_id))

    async def _renew(self) -> bool:
        async with self.database.session_scope() as session:
            renewed = await leases.renew_lease(
                session, self.bot_id, self.owner, self.ctx.clock(), self.ttl
            )
        if renewed:
            self._renewed = time.monotonic()
        else:
            self.held = False
        return renewed

    def start_heartbeat(self) -> None:
        """Renew every third of the lifetime while the tick runs (``stop_heartbeat`` when it
        ends): one slow exchange call (retries with backoff take tens of seconds) must not let
        the lease expire under a live tick. A timer, not a task: most ticks end before it."""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.ttl.total_seconds() / 3, self._beat)

    def _beat(self) -> None:
        self._beating = asyncio.ensure_future(self._renew_and_rearm())

    async def _renew_and_rearm(self) -> None:
        try:
            if self.held and await self._renew():
                self.start_heartbeat()
        except Exception:  # the database hiccuped: the tick's own keep() decides
            logger.warning("bot %s: lease renewal failed", self.bot_id, exc_info=True)
            self.start_heartbeat()

    async def stop_heartbeat(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
