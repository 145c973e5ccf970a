"""The fleet watchdog, run by the beat process's scheduler: is anything consuming the queues?

A stopped fleet cannot report itself, and a periodic task to check it would wait in the very
queue nobody reads; so the leading beat looks at the broker directly, every
``FLEET_CHECK_SECONDS``, in a thread of its own (a broker that does not answer takes seconds,
and scheduling must not wait for it): the queue depths (``queue_depth``) and which workers
answer a ping. ``notifications.fleet_alerts`` judges the observations and tells the
administrators once per stall and once when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.notifications.fleet_alerts import FleetObservation, FleetWatch, announce
from autogrid.worker.celery_app import is_embedded, worker_queues
from autogrid.worker.fleet import BROKER_ERRORS
from autogrid.worker.queue_depth import queue_depths

logger = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 1.0


def observe_fleet(app: Any, settings: Settings) -> FleetObservation:
    """Blocking: the queues' depths and how many workers answered a ping."""
    try:
        queues = queue_depths(app, worker_queues(settings))
        if is_embedded(settings):
            return FleetObservation(queues, None)  # no broadcast there
        answers = app.control.inspect(timeout=PING_TIMEOUT_SECONDS).ping() or {}
    except BROKER_ERRORS:
        return FleetObservation(None, None)
    return FleetObservation(queues, len(answers))


class FleetWatchdog:
    """Checks at most every ``fleet_check_seconds``, one check at a time, when asked by a
    leading scheduler's tick."""

    def __init__(self, app: Any, settings: Settings) -> None:
        self._app = app
        self._settings = settings
        self._watch = FleetWatch(stall_checks=settings.fleet_stall_checks)
        # Not at once: workers started with the beat get one interval to come up.
        self._next_check = time.monotonic() + settings.fleet_check_seconds
        self._thread: threading.Thread | None = None

    def maybe_check(self) -> None:
        if time.monotonic() < self._next_check:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._next_check = time.monotonic() + self._settings.fleet_check_seconds
        self._thread = threading.Thread(target=self.check, name="fleet-watchdog", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """One observation, judged and announced if the fleet's state changed."""
        try:
            seen = observe_fleet(self._app, self._settings)
            reason = self._watch.observe(seen)
            if reason is None and self._watch.suspect:
                return  # something looks wrong, not for long enough to say either way
            asyncio.run(self._announce(reason, seen))
        except Exception:  # the next check tries again; scheduling goes on meanwhile
            logger.exception("fleet watchdog: the check failed")

    async def _announce(self, reason: str | None, seen: FleetObservation) -> None:
        database = Database.from_settings(self._settings, pooled=False)
        try:
            async with database.session_scope() as session:
                await announce(session, reason, seen, utcnow())
        finally:
            await database.dispose()
