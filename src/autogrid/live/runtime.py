"""The live events machinery of one API process, started and stopped with the app."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.live.hub import LiveHub
from autogrid.live.tickets import TicketStore, create_tickets

# How often the feed reads the journal when nothing woke it.
POLL_SECONDS = 0.25
# How long an id hole may hold later events back before it is taken as a rollback (PostgreSQL).
GAP_GRACE_SECONDS = 5.0


@dataclass(slots=True)
class LiveEvents:
    hub: LiveHub
    tickets: TicketStore

    async def stop(self) -> None:
        """Every open stream ends (clients get 1001, going away), then the feed."""
        await self.hub.stop()


def start_live_events(settings: Settings, database: Database, redis: Redis | None) -> LiveEvents:
    hub = LiveHub(
        database,
        # SQLite serialises writers, so ids become visible in id order: no hole to wait for.
        strict_order=not settings.is_sqlite,
        poll_seconds=POLL_SECONDS,
        gap_grace_seconds=GAP_GRACE_SECONDS,
    )
    hub.start()
    return LiveEvents(hub, create_tickets(settings, redis))
