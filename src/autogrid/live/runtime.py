"""The live events machinery of one API process, started and stopped with the app: the feed
(idle until a stream opens), the tickets, and the wake-ups that make the feed read at once (this
process's own commits, and every process's through Redis)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.exceptions import RedisError

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.live.hub import LiveHub
from autogrid.live.tickets import TicketStore, create_tickets
from autogrid.live.wakeup import announcer, channel

logger = logging.getLogger(__name__)

# The longest an id hole may hold later events back (PostgreSQL); a hole no running transaction
# can fill is given up long before (see ``ordering``).
GAP_GRACE_SECONDS = 5.0
# How often open streams are checked against their users' token_version and is_active.
ACCESS_CHECK_SECONDS = 5.0
RESUBSCRIBE_SECONDS = 1.0
# Announcements are awaited this long at most, so a stop notices ``stopping`` this soon.
LISTEN_SECONDS = 1.0
STOP_WAIT_SECONDS = 2 * LISTEN_SECONDS


@dataclass(slots=True)
class LiveEvents:
    hub: LiveHub
    tickets: TicketStore
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        """Every open stream ends (clients get 1001, going away), then the feed."""
        announcer.remove_listener(self.hub.wake)
        self.stopping.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # redis-py can swallow a cancellation; the loop then sees ``stopping`` and ends.
            await asyncio.wait(self._tasks, timeout=STOP_WAIT_SECONDS)
        await self.hub.stop()


def start_live_events(settings: Settings, database: Database, redis: Redis | None) -> LiveEvents:
    hub = LiveHub(
        database,
        # SQLite serialises writers, so ids become visible in id order: no hole to wait for.
        strict_order=not settings.is_sqlite,
        poll_seconds=settings.live_poll_seconds,
        gap_grace_seconds=GAP_GRACE_SECONDS,
        access_check_seconds=ACCESS_CHECK_SECONDS,
    )
    announcer.configure(settings)
    announcer.add_listener(hub.wake)
    live = LiveEvents(hub, create_tickets(settings, redis))
    if settings.redis_url:
        live._tasks.append(
            asyncio.create_task(
                _wake_on_announcements(settings, hub, live.stopping), name="live-wakeups"
            )
        )
    return live


async def _wake_on_announcements(settings: Settings, hub: LiveHub, stopping: asyncio.Event) -> None:
    """Wake the feed on every announcement from any process; resubscribe after an outage."""
    assert settings.redis_url
    # A client of its own: no socket timeout, it waits for messages indefinitely.
    client = Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)
    try:
        while not stopping.is_set():
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel(settings))
                    hub.wake()  # anything announced while (re)subscribing
                    while not stopping.is_set():
                        message = await pubsub.get_message(timeout=LISTEN_SECONDS)
                        if message is not None:
                            hub.wake()
            except (RedisError, OSError) as error:
                if stopping.is_set():
                    return
                logger.warning(
                    "live events: Redis announcements unavailable (%s); polling the journal",
                    type(error).__name__,
                )
                await asyncio.sleep(RESUBSCRIBE_SECONDS)
    finally:
        await client.aclose()
