"""Celery tasks of the bot runtime. Each takes ids only and is safe to run twice, even at once:
ticks and reconciliations take the bot's lease, the claim is a committed conditional update,
metric samples are keyed by (bot, slot).

Beat schedule (``autogrid.worker.celery_app.RUNTIME_BEAT_SCHEDULE``): claim due ticks every
second, reconcile every 30 s, record performance (and the fleet's gauges) every 30 s. The API
sends ``tick_bot`` once a start, stop, pause, resume or breaker reset has committed
(``dispatcher.py``).
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any

from celery import signals
from kombu.exceptions import OperationalError

from autogrid.core.sqltypes import utcnow
from autogrid.observability.metrics import QUEUE_MESSAGES
from autogrid.performance.recorder import record_metrics
from autogrid.scheduling.claims import batches, claim_due, reconcile_all, tick_many
from autogrid.scheduling.process import run_in_runtime, shutdown_runtime
from autogrid.worker.base import task, task_app, task_settings
from autogrid.worker.celery_app import worker_queues
from autogrid.worker.queue_depth import queue_depths

logger = logging.getLogger(__name__)

# A tick message older than this is stale: the next claim sends a fresh one anyway.
TICK_EXPIRES_SECONDS = 30


@task()
def tick_bot(bot_id: str) -> bool:
    """One tick of one bot now (after a lifecycle command, or from a batch)."""
    result = run_in_runtime(task_settings(), lambda ctx: tick_many(ctx, [uuid.UUID(bot_id)]))
    return result == 1


@task()
def tick_bots(bot_ids: list[str]) -> int:
    """A batch of ticks, run concurrently on this process."""
    ids = [uuid.UUID(bot_id) for bot_id in bot_ids]
    return run_in_runtime(task_settings(), lambda ctx: tick_many(ctx, ids))


_started_up: set[int] = set()


@task()
def claim_due_ticks() -> int:
    """Claim every bot whose tick is due (committed), then send their ticks in batches.

    The first claim a worker process runs also queues a full reconciliation: a worker that
    (re)starts may follow a crash that left orders in flight.
    """
    if os.getpid() not in _started_up:
        _started_up.add(os.getpid())
        reconcile_bots.apply_async(expires=60)
    claimed = run_in_runtime(task_settings(), lambda ctx: claim_due(ctx.database))
    for batch in batches(claimed):
        tick_bots.apply_async(args=[batch], expires=TICK_EXPIRES_SECONDS)
    return len(claimed)


@task()
def reconcile_bots() -> int:
    """Periodic reconciliation of every bot that may have orders on an exchange."""
    return run_in_runtime(task_settings(), reconcile_all)


@task()
def record_bot_metrics() -> int:
    settings = task_settings()
    stored = run_in_runtime(settings, lambda ctx: record_metrics(ctx.database, utcnow()))
    try:
        depths = queue_depths(task_app(), worker_queues(settings))
    except (OSError, OperationalError):
        # The broker is unreachable (kombu wraps a refused connection in its OperationalError):
        # the gauges keep their last value and the recorded-at timestamp says how old the
        # samples are; the bot samples above are stored anyway.
        logger.warning("queue depths not sampled: the broker did not answer", exc_info=True)
    else:
        for queue, messages in depths.items():
            QUEUE_MESSAGES.labels(queue).set(messages)
    return stored


def _close_runtime(**_: Any) -> None:
    shutdown_runtime()


def _close_main_runtime(**_: Any) -> None:
    shutdown_runtime()  # the solo pool runs tasks in the main process


signals.worker_process_shutdown.connect(
    _close_runtime, weak=False, dispatch_uid="autogrid.runtime.shutdown"
)
signals.worker_shutdown.connect(
    _close_main_runtime, weak=False, dispatch_uid="autogrid.runtime.shutdown_main"
)
