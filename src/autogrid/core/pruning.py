"""Deleting old rows in bounded batches, each batch its own short transaction, so that a large
backlog never holds locks for long nor grows one huge delete; a run stops after ``max_batches``
and the next scheduled run carries on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database

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
