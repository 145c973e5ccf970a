"""Celery tasks of the signals domain. Each takes ids only and is safe to run twice, even at
once: a signal is carried out only while it is ``accepted``, under its row's lock."""

from __future__ import annotations

import logging
from datetime import timedelta

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.rules_provider import worker_market_rules
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from autogrid.signals import interpretation, repository, retention
from autogrid.signals.dispatch import EXECUTE_SIGNAL_TASK
from autogrid.signals.outcomes import SignalOutcome
from autogrid.worker.base import run_async, run_in_session, task, task_app, task_settings

logger = logging.getLogger(__name__)

# An accepted signal still waiting after this long lost its message: the sweep sends it again.
SWEEP_AFTER_SECONDS = 10
# One being read by the model may be waiting for its answer: give the model its timeout first.
SWEEP_INTERPRETING_MARGIN_SECONDS = 10
SWEEP_BATCH = 500


@task()
def execute_signal(signal_id: int) -> int:
    """Carry out one accepted signal; how many bot commands it sent to the runtime."""
    settings = task_settings()
    return run_async(_execute(settings, signal_id))


async def _execute(settings: Settings, signal_id: int) -> int:
    database = Database.from_settings(settings, pooled=False)
    try:
        async with worker_market_rules(settings) as markets:
            commands = await interpretation.carry_out(database, settings, signal_id, markets)
    finally:
        await database.dispose()
    # After commit: a tick reads the bot's new status and acts on it.
    dispatcher = CeleryBotDispatcher(task_app())
    for command in commands:
        await dispatcher.dispatch(command)
    return len(commands)


@task()
def sweep_signals() -> int:
    """Send again the accepted (or interpreting) signals that waited too long (their message
    was lost)."""
    settings = task_settings()
    now = utcnow()
    cutoffs = {
        SignalOutcome.ACCEPTED: now - timedelta(seconds=SWEEP_AFTER_SECONDS),
        SignalOutcome.INTERPRETING: now
        - timedelta(
            seconds=SWEEP_AFTER_SECONDS
            + SWEEP_INTERPRETING_MARGIN_SECONDS
            + settings.signal_llm_timeout_seconds
        ),
    }
    ids = run_in_session(
        lambda session: repository.waiting_since(session, cutoffs, SWEEP_BATCH), settings
    )
    for signal_id in ids:
        task_app().send_task(EXECUTE_SIGNAL_TASK, args=[signal_id], expires=60)
    if ids:
        logger.warning("%d accepted or interpreting signals were waiting; sent again", len(ids))
    return len(ids)


@task()
def prune_signals() -> int:
    """Delete signals older than SIGNAL_RETENTION_DAYS; safe to run twice, even at once."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            return await retention.prune_signals(database, settings.signal_retention_days, utcnow())
        finally:
            await database.dispose()

    return run_async(run())
