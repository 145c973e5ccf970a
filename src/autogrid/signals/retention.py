"""Keeping received signals to SIGNAL_RETENTION_DAYS: the oldest go, in bounded batches, each
batch its own short transaction (the shared helper of every retention job)."""

from __future__ import annotations

from datetime import datetime

from autogrid.core.db import Database
from autogrid.core.pruning import MAX_PRUNE_BATCHES, PRUNE_BATCH, prune_retained
from autogrid.signals import repository


async def prune_signals(
    database: Database,
    retention_days: int,
    now: datetime,
    *,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_PRUNE_BATCHES,
) -> int:
    """Delete signals received more than ``retention_days`` before ``now``; how many went."""
    return await prune_retained(
        database,
        repository.prune_before,
        what="signals",
        retention_days=retention_days,
        now=now,
        batch=batch,
        max_batches=max_batches,
    )
