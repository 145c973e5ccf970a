"""Platform tasks: a liveness probe through the whole pipeline, and embedded-broker upkeep."""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.worker.base import run_in_session, task, task_settings

# Processed message files of the embedded broker are kept this long (for debugging), then pruned.
PROCESSED_MESSAGE_RETENTION_SECONDS = 3600


async def _database_answers(session: AsyncSession) -> bool:
    answer: object = (await session.execute(text("SELECT 1"))).scalar_one()
    return answer == 1


@task(ignore_result=False)
def ping() -> str:
    """Answer "pong" once the worker has reached the database through a task session.

    Proves end to end that a message travels broker -> worker -> database -> result backend.
    Read-only, so running it twice is harmless.
    """
    if not run_in_session(_database_answers):
        raise RuntimeError("the database answered SELECT 1 with something else")
    return "pong"


@task()
def prune_processed_messages() -> int:
    """Delete processed embedded-broker message files older than the retention; idempotent.

    Also staged files that old: a publisher killed mid-write left them, they were never queued.
    """
    broker_dir = task_settings().embedded_broker_dir.resolve()
    cutoff = time.time() - PROCESSED_MESSAGE_RETENTION_SECONDS
    removed = 0
    for folder in (broker_dir / "processed", broker_dir / "staging"):
        for message in folder.glob("*.msg"):
            try:
                if message.stat().st_mtime < cutoff:
                    message.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # pruned concurrently by another run
    return removed
