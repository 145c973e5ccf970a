"""Keeping received signals to SIGNAL_RETENTION_DAYS: the oldest go, in bounded batches, each
batch its own short transaction (the shared helper of every retention job)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from autogrid.core.db import Database
from autogrid.core.pruning import prune_older_than
from autogrid.signals import repository

logger = logging.getLogger(__name__)

PRUNE_BATCH = 5_000
# At most this many batches a run; the next run (an hour later) carries on.
MAX_PRUNE_BATCHES = 200


async def prune_signals(
    database: Database,
    retention_days: int,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """Delete signals received more than ``retention_days`` before ``now``; how many went."""
    cutoff = now - timedelta(days=retention_days)
    pruned = await prune_older_than(
        database, repository.prune_before, cutoff, batch=batch, max_batches=max_batches
    )
    if pruned:
        logger.info("signals: %d received before %s pruned", pruned, cutoff.isoformat())
    return pruned
