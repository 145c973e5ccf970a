"""Keeping the journal to its retention: the oldest events go, in bounded batches, each batch
its own short transaction (a large backlog never holds locks or one huge delete for long)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from autogrid.core.db import Database
from autogrid.core.pruning import prune_older_than
from autogrid.events import repository

logger = logging.getLogger(__name__)

PRUNE_BATCH = 5_000
# At most this many batches a run; the next run (an hour later) carries on.
MAX_PRUNE_BATCHES = 200


async def prune_events(
    database: Database,
    retention_days: int,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """Delete events created more than ``retention_days`` before ``now``; how many went."""
    cutoff = now - timedelta(days=retention_days)
    pruned = await prune_older_than(
        database, repository.prune_before, cutoff, batch=batch, max_batches=max_batches
    )
    if pruned:
        logger.info("event journal: %d events older than %s pruned", pruned, cutoff.isoformat())
    return pruned
