"""The worker fleet as the broker sees it: who is consuming, and what waits in each queue.

Workers answer Celery's ``stats`` broadcast (a fan-out over the broker: Redis has one). The
embedded file-system broker cannot broadcast, so there only the queues are reported, and the
bots' last ticks tell whether anything is consuming. A broker that does not answer is not an
error of the view: it says what it could not read (``note``) and the caller shows the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import OperationalError

from autogrid.core.config import Settings
from autogrid.worker.celery_app import is_embedded, worker_queues
from autogrid.worker.queue_depth import queue_depths

logger = logging.getLogger(__name__)

NO_BROADCAST = "the embedded broker cannot ask workers; the bots' last ticks show if one runs"
BROKER_DOWN = "the broker did not answer: queue depths and workers are unknown"
# kombu wraps a refused or lost broker connection in its OperationalError (not an OSError).
BROKER_ERRORS = (OSError, OperationalError)


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    name: str  # celery@host
    pid: int | None
    concurrency: int | None
    tasks_done: int  # since the worker started, all task names together


@dataclass(frozen=True, slots=True)
class FleetView:
    workers: list[WorkerInfo] | None  # None: the broker cannot be asked (see ``note``)
    note: str | None
    queues: dict[str, int] | None  # None: the broker did not answer (see ``note``)


def probe_fleet(app: Any, settings: Settings, timeout: float = 1.0) -> FleetView:
    """Blocking (a broadcast waits ``timeout`` for answers): run it in a thread. Never raises
    for a broker that is down: the view says so."""
    try:
        queues = queue_depths(app, worker_queues(settings))
    except BROKER_ERRORS:
        # Nothing more to ask it: a broadcast goes through the same broker.
        logger.warning("fleet probe: the broker did not answer", exc_info=True)
        return FleetView(None, BROKER_DOWN, None)
    if is_embedded(settings):
        return FleetView(None, NO_BROADCAST, queues)
    try:
        answers: dict[str, dict[str, Any]] = app.control.inspect(timeout=timeout).stats() or {}
    except BROKER_ERRORS:
        logger.warning("fleet probe: the workers' broadcast failed", exc_info=True)
        return FleetView(None, "the broker did not carry the broadcast: workers unknown", queues)
    workers = [worker_info(name, stats) for name, stats in sorted(answers.items())]
    return FleetView(workers, None, queues)


def worker_info(name: str, stats: dict[str, Any]) -> WorkerInfo:
    pool = stats.get("pool") or {}
    concurrency = pool.get("max-concurrency")
    totals = stats.get("total") or {}
    return WorkerInfo(
        name=name,
        pid=stats.get("pid"),
        concurrency=concurrency if isinstance(concurrency, int) else None,
        tasks_done=sum(n for n in totals.values() if isinstance(n, int)),
    )
