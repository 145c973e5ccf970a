"""The fleet watchdog's verdict and its announcement: administrators hear once when the
workers stop consuming (``fleet_stalled``) and once when they consume again
(``fleet_recovered``).

Workers cannot report their own absence, and a beat job would be a task nobody runs, so the
observations are made outside them: the beat process's scheduler probes the broker itself
(``worker.fleet_watch``). A stall is declared after ``stall_checks`` observations in a row in
which nothing consumes: the broker does not answer, or messages wait and no worker answers the
ping, or the queue only grew while the workers that answer take nothing. The single row of
``fleet_alert_state`` remembers an announced stall, locked while it changes, so a new beat
leader (or two for a moment) never announces one stall twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.notifications import fleet_repository as repository

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FleetObservation:
    queues: dict[str, int] | None  # None: the broker did not answer
    # Workers that answered the ping; None: they cannot be asked (the embedded broker has no
    # broadcast), so only a growing queue tells.
    workers: int | None

    @property
    def waiting(self) -> int:
        return sum((self.queues or {}).values())


@dataclass(slots=True)
class FleetWatch:
    """Pure: fed one observation at a time, says whether the fleet is stalled and why."""

    stall_checks: int = 3
    _bad_in_a_row: int = 0
    _last_waiting: int | None = None

    def observe(self, seen: FleetObservation) -> str | None:
        """The stall's reason once it lasted ``stall_checks`` observations; None: consuming."""
        reason = self._symptom(seen)
        self._last_waiting = seen.waiting if seen.queues is not None else None
        if reason is None:
            self._bad_in_a_row = 0
            return None
        self._bad_in_a_row += 1
        return reason if self._bad_in_a_row >= self.stall_checks else None

    @property
    def suspect(self) -> bool:
        """Something looked wrong at the last observation, not yet long enough to say so."""
        return self._bad_in_a_row > 0

    def _symptom(self, seen: FleetObservation) -> str | None:
        if seen.queues is None:
            return "the broker does not answer"
        if seen.waiting == 0:
            return None  # nothing to consume
        if seen.workers == 0:
            return f"{seen.waiting} messages wait and no worker answers"
        if self._last_waiting is not None and seen.waiting > self._last_waiting:
            # Growing at every check for ``stall_checks`` checks: taken slower than it comes.
            return f"the queues keep growing ({seen.waiting} messages waiting)"
        return None


async def announce(
    session: AsyncSession, reason: str | None, seen: FleetObservation, now: datetime
) -> EventType | None:
    """Record a change of the fleet's state for every administrator; the type recorded, if
    any. ``reason`` None: the fleet consumes."""
    state = await repository.lock_state(session, now)
    state.checked_at = now
    details: dict[str, Any] = {"queues": seen.queues, "workers": seen.workers}
    if reason is not None and state.stalled_since is None:
        state.stalled_since, state.reason = now, reason
        await _tell_admins(
            session,
            EventType.FLEET_STALLED,
            f"workers stopped: {reason}",
            now,
            {
                "reason": reason,
                **details,
            },
        )
        logger.error("fleet stalled: %s", reason)
        return EventType.FLEET_STALLED
    if reason is None and state.stalled_since is not None:
        since = state.stalled_since
        state.stalled_since, state.reason = None, None
        message = f"workers consume again (stalled since {since.isoformat()})"
        await _tell_admins(
            session,
            EventType.FLEET_RECOVERED,
            message,
            now,
            {
                "stalled_since": since.isoformat(),
                **details,
            },
        )
        logger.warning("fleet recovered after a stall since %s", since.isoformat())
        return EventType.FLEET_RECOVERED
    await session.flush()
    return None


async def _tell_admins(
    session: AsyncSession, kind: EventType, message: str, now: datetime, data: dict[str, Any]
) -> None:
    for admin_id in await repository.active_admin_ids(session):
        record_event(
            session, user_id=admin_id, bot_id=None, type=kind, message=message, at=now, data=data
        )
    await session.flush()
