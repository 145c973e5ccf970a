"""Deleting old rows in bounded batches, each batch its own short transaction, so that a large
backlog never holds locks for long nor grows one huge delete; a run stops after ``max_batches``
and the next scheduled run carries on."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database

logger = logging.getLogger(__name__)

# One delete of this many rows is short; a run of this many batches leaves the rest to the next
# scheduled run (an hour later for the retention jobs).
PRUNE_BATCH = 5_000
MAX_PRUNE_BATCHES = 200

# Deletes up to ``limit`` rows in the given session; returns how many it deleted.
DeleteBatch = Callable[[AsyncSession, int], Awaitable[int]]
# Deletes up to ``limit`` rows written before the cutoff; returns how many it deleted.
DeleteBefore = Callable[[AsyncSession, datetime, int], Awaitable[int]]


async def prune_in_batches(
    database: Database, delete_batch: DeleteBatch, *, batch: int, max_batches: int
) -> int:
    """Run ``delete_batch`` until a batch comes back short (nothing older is left) or
    ``max_batches`` ran; returns how many rows went in all."""
    total = 0
    for _ in range(max_batches):
        async with database.session_scope() as session:
            deleted = await delete_batch(session, batch)
        total += deleted
        if deleted < batch:
            break
    return total


async def prune_older_than(
    database: Database,
    delete_before: DeleteBefore,
    cutoff: datetime,
    *,
    batch: int,
    max_batches: int,
) -> int:
    """``prune_in_batches`` for the common case: every row written before ``cutoff``."""

    async def older(session: AsyncSession, limit: int) -> int:
        return await delete_before(session, cutoff, limit)

    return await prune_in_batches(database, older, batch=batch, max_batches=max_batches)


async def prune_retained(
    database: Database,
    delete_before: DeleteBefore,
    *,
    what: str,
    retention_days: int,
    now: datetime,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """A retention job: every row written more than ``retention_days`` before ``now`` goes (in
    bounded batches); logs how many ``what`` went; returns that count."""
    cutoff = now - timedelta(days=retention_days)
    pruned = await prune_older_than(
        database, delete_before, cutoff, batch=batch, max_batches=max_batches
    )
    if pruned:
        logger.info("%s: %d older than %s pruned", what, pruned, cutoff.isoformat())
    return pruned
