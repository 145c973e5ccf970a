"""Keeping the delivery log to the journal's retention (``EVENTS_RETENTION_DAYS``): the oldest
attempts go in bounded batches, each its own short transaction. (Outbox rows go with their
event, by ON DELETE CASCADE, when the journal is pruned.)"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.core.pruning import prune_in_batches
from autogrid.events.retention import MAX_PRUNE_BATCHES, PRUNE_BATCH
from autogrid.notifications import repository

logger = logging.getLogger(__name__)


async def prune_deliveries(
    database: Database,
    retention_days: int,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """Delete delivery log rows written more than ``retention_days`` before ``now``."""
    cutoff = now - timedelta(days=retention_days)

    async def older(session: AsyncSession, limit: int) -> int:
        return await repository.prune_deliveries_before(session, cutoff, limit)

    pruned = await prune_in_batches(database, older, batch=batch, max_batches=max_batches)
    if pruned:
        logger.info("delivery log: %d attempts older than %s pruned", pruned, cutoff.isoformat())
    return pruned
