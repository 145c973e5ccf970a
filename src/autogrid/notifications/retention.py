"""Keeping the delivery log to the journal's retention (``EVENTS_RETENTION_DAYS``): the oldest
attempts go in bounded batches, each its own short transaction. (Outbox rows go with their
event, by ON DELETE CASCADE, when the journal is pruned.)"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from autogrid.core.db import Database
from autogrid.core.pruning import MAX_PRUNE_BATCHES, PRUNE_BATCH, prune_retained
from autogrid.notifications import repository
from autogrid.notifications.telegram import repository as telegram_repository

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
    return await prune_retained(
        database,
        repository.prune_deliveries_before,
        what="delivery log",
        retention_days=retention_days,
        now=now,
        batch=batch,
        max_batches=max_batches,
    )


# Telegram keeps an unconfirmed update for 24 hours and retries a webhook for less: a handled
# update's id is needed (to skip a second delivery) no longer than that.
TELEGRAM_UPDATES_KEPT = timedelta(days=2)


async def prune_telegram_updates(database: Database, now: datetime) -> int:
    async with database.session_scope() as session:
        return await telegram_repository.prune_updates_before(session, now - TELEGRAM_UPDATES_KEPT)
