"""Keeping the journal to its retention: the oldest events go, in bounded batches, each batch
its own short transaction (a large backlog never holds locks or one huge delete for long)."""

from __future__ import annotations

from datetime import datetime

from autogrid.core.db import Database
from autogrid.core.pruning import MAX_PRUNE_BATCHES, PRUNE_BATCH, prune_retained
from autogrid.events import repository


async def prune_events(
    database: Database,
    retention_days: int,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """Delete events created more than ``retention_days`` before ``now``; how many went."""
    return await prune_retained(
        database,
        repository.prune_before,
        what="event journal",
        retention_days=retention_days,
        now=now,
        batch=batch,
        max_batches=max_batches,
    )
