"""Keep ``refresh_tokens`` bounded: every login adds a row, this removes the ones of no use.

Removed, in bounded batches (each its own short transaction, so no long lock on a busy table):
- tokens past their expiry: their JWT is refused before the table is even read;
- tokens of families with no live token left, revoked more than ``REVOKED_FAMILY_RETENTION``
  ago (a logout, a detected theft, a password change): they answer 401 with or without a row.
Rotated tokens of a live family stay until they expire: presenting one is the theft signal.
Idempotent and safe to run twice at once: a row deleted by the other run is simply not counted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.auth import repository
from autogrid.core.db import Database
from autogrid.core.pruning import prune_in_batches

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 1000
# One run deletes at most this many batches; the next scheduled run goes on from there.
MAX_BATCHES_PER_RUN = 100
REVOKED_FAMILY_RETENTION = timedelta(days=7)


async def prune_refresh_tokens(
    database: Database,
    now: datetime,
    *,
    batch_size: int = PRUNE_BATCH_SIZE,
    max_batches: int = MAX_BATCHES_PER_RUN,
) -> int:
    """Delete prunable refresh tokens as of ``now``; returns how many were deleted."""

    async def prunable(session: AsyncSession, limit: int) -> int:
        deleted = await repository.delete_expired_refresh_tokens(session, now, limit)
        if deleted < limit:
            deleted += await repository.delete_revoked_families(
                session, now - REVOKED_FAMILY_RETENTION, limit - deleted
            )
        return deleted

    total = await prune_in_batches(database, prunable, batch=batch_size, max_batches=max_batches)
    if total:
        logger.info("refresh tokens pruned count=%d", total)
    return total
