"""Celery tasks of notifications."""

from __future__ import annotations

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.notifications import dead_man, retention, summary
from autogrid.notifications.delivery import deliver_due
from autogrid.notifications.telegram import polling
from autogrid.scheduling.dispatcher import CeleryBotDispatcher
from autogrid.worker.base import run_async, task, task_app, task_settings


@task()
def deliver_notifications() -> int:
    """Send the due outbox rows; safe to run twice, even at once (rows are claimed with a lease,
    and a message sent twice carries the same webhook-id)."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            return await deliver_due(
                database, keyring_from_settings(settings), settings, now=utcnow()
            )
        finally:
            await database.dispose()

    return run_async(run())


@task()
def alert_stalled_bots() -> int:
    """The dead-man check; each stall is reported once however often (or twice at once) it runs."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            async with database.session_scope() as session:
                return await dead_man.alert_stalled_bots(session, utcnow())
        finally:
            await database.dispose()

    return run_async(run())


@task()
def send_daily_summaries() -> int:
    """The daily summaries due now; one per user and local day however often (or however many
    at once) it runs."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            return await summary.send_daily_summaries(database, utcnow())
        finally:
            await database.dispose()

    return run_async(run())


@task()
def prune_deliveries() -> int:
    """Delete delivery log rows older than EVENTS_RETENTION_DAYS; safe to run twice."""
    settings = task_settings()

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            return await retention.prune_deliveries(
                database, settings.events_retention_days, utcnow()
            ) + await retention.prune_telegram_updates(database, utcnow())
        finally:
            await database.dispose()

    return run_async(run())


@task()
def poll_telegram_updates() -> int:
    """One getUpdates pass of the platform's Telegram bot (no webhook configured); safe to run
    twice at once (a lease lets one poll) and after a crash (each update is handled once)."""
    settings = task_settings()
    dispatcher = CeleryBotDispatcher(task_app())

    async def run() -> int:
        database = Database.from_settings(settings, pooled=False)
        try:
            handled = await polling.poll_once(
                database, keyring_from_settings(settings), settings, dispatcher, now=utcnow()
            )
            return handled or 0
        finally:
            await database.dispose()

    return run_async(run())
