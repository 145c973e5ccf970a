"""Routine lines counted, not written: one summary line a period instead of one per request or task.

In a terminal (``autogrid dev``) the access log and Celery's per-task INFO lines bury what a
person needs to see: a demo bot ticking once a second writes three lines a second. With
``LOG_SUMMARY_SECONDS`` set, those INFO lines are counted and a single line a period says how many
there were. Anything at WARNING or above (a 5xx, a failed task, a restart) is still written at
once, and so is every INFO line of any other logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

SUMMARY_LOGGER = "autogrid.summary"

# logger name -> what one of its INFO lines counts as; None: dropped uncounted (a task's
# "received" and beat's "sending due task" only repeat what its "succeeded" line says).
ROUTINE_LOGGERS: Mapping[str, str | None] = {
    "autogrid.access": "request",
    "celery.app.trace": "task",
    "celery.worker.strategy": None,
    "celery.beat": None,
}


class RoutineSummary(logging.Filter):
    """A handler filter: drops routine INFO records, counts them, and logs the counts each period.

    The summary is written when the first record after the period's end arrives (a busy stack
    logs something every few seconds), so no timer thread is needed.
    """

    def __init__(self, period_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._period = period_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._period_started = clock()
        self._writing_summary = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._writing_summary, "active", False):
            return True
        routine = record.levelno == logging.INFO and record.name in ROUTINE_LOGGERS
        due = self._count_and_take_due(_label(record) if routine else None)
        if due:
            self._write(due)
        return not routine

    def _count_and_take_due(self, label: str | None) -> Counter[str] | None:
        with self._lock:
            if label is not None:
                self._counts[label] += 1
            now = self._clock()
            if now - self._period_started < self._period:
                return None
            due, self._counts = self._counts, Counter()
            self._period_started = now
            return due

    def _write(self, counts: Counter[str]) -> None:
        self._writing_summary.active = True
        try:
            logging.getLogger(SUMMARY_LOGGER).info(
                "last %.0f s: %s", self._period, describe(counts)
            )
        finally:
            self._writing_summary.active = False


def describe(counts: Counter[str]) -> str:
    """``12 requests (11 2xx, 1 3xx); tasks: tick_bots 57, claim_due_ticks 12`` style."""
    requests = {label: n for label, n in counts.items() if label.startswith("request ")}
    tasks = {label: n for label, n in counts.items() if label.startswith("task ")}
    parts: list[str] = []
    if requests:
        by_class = ", ".join(f"{n} {label.split()[1]}" for label, n in sorted(requests.items()))
        total = sum(requests.values())
        parts.append(f"{total} request{'' if total == 1 else 's'} ({by_class})")
    if tasks:
        most = sorted(tasks.items(), key=lambda item: (-item[1], item[0]))
        parts.append("tasks done: " + ", ".join(f"{label[5:]} {n}" for label, n in most))
    return "; ".join(parts)


def _label(record: logging.LogRecord) -> str | None:
    kind = ROUTINE_LOGGERS[record.name]
    if kind == "request":
        status = getattr(record, "status", None)
        return f"request {str(status)[0]}xx" if isinstance(status, int) else "request ?xx"
    if kind == "task":
        # Celery passes its fields as a dict: {"name": "autogrid.scheduling.tasks.tick_bots", ...}
        args = record.args if isinstance(record.args, Mapping) else {}
        name = str(args.get("name", "?"))
        return f"task {name.rsplit('.', 1)[-1]}"
    return None
