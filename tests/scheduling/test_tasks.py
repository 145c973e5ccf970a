"""The performance beat job stores the bots' samples even when the broker cannot be reached to
count the queues (kombu raises its own OperationalError then, not an OSError)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import BotMetric
from autogrid.scheduling.process import shutdown_runtime
from autogrid.worker.celery_app import create_celery
from tests.support.factories import count_rows, make_bot, make_user

# Loopback, nothing listens there: the connection is refused, as by a broker that is down.
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


async def test_metrics_are_recorded_while_the_broker_is_down(
    settings: Settings, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await make_bot(db, await make_user(db), status="running")
    app = create_celery(settings.model_copy(update={"celery_broker_url": UNREACHABLE_BROKER}))
    app.loader.import_default_modules()
    record = app.tasks["autogrid.scheduling.tasks.record_bot_metrics"]

    def run_as_a_worker_does() -> int:
        # In a thread of its own: the task runs the runtime's event loop, closed here after.
        try:
            stored: int = record.apply().get()
            return stored
        finally:
            shutdown_runtime()

    with caplog.at_level(logging.WARNING, logger="autogrid.scheduling.tasks"):
        stored = await asyncio.to_thread(run_as_a_worker_does)

    assert stored == 1
    assert await count_rows(db, BotMetric) == 1
    assert "queue depths not sampled" in caplog.text
