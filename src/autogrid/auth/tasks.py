"""Scheduled upkeep of authentication data (sent by beat, see ``worker.celery_app``)."""

from __future__ import annotations

from autogrid.auth.pruning import prune_refresh_tokens as prune
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.worker.base import run_async, task, task_settings


async def _prune_now() -> int:
    database = Database.from_settings(task_settings(), pooled=False)
    try:
        return await prune(database, utcnow())
    finally:
        await database.dispose()


@task()
def prune_refresh_tokens() -> int:
    """Delete expired refresh tokens and long-revoked families in bounded batches; idempotent."""
    return run_async(_prune_now())
