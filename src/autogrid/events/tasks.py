"""Celery tasks of the event journal."""

from __future__ import annotations

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.retention import prune_events as prune
from autogrid.worker.base import run_async, task, task_settings


@task()
def prune_events() -> int:
    """Delete events older than EVENTS_RETENTION_DAYS; safe to run twice, even at once."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            return await prune(database, settings.events_retention_days, utcnow())
        finally:
            await database.dispose()

    return run_async(run())
