"""Recurring buys: when each slot falls, and what to do about slots that were missed.

Slots are cron instants in the user's time zone (``hourly`` is minute 0 of every hour, ``daily``
local midnight, ``weekly`` Monday's local midnight), converted to UTC; daylight-saving changes
move them with the wall clock, as a user expects. A slot is bought on time if it is found within
its grace period; older slots were missed, and the catch-up policy decides: ``skip`` drops them,
``once`` buys a single time for the newest of them. Never more than one buy per decision, so a
long outage can never turn into a burst of orders. Each slot is bought at most once: callers key
the buy by (bot, slot) in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from croniter import croniter

EVERY_AS_CRON = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1"}
MAX_GRACE = timedelta(minutes=15)
MAX_SLOTS_SCANNED = 10_000  # a year of hourly slots: bounds the work after a very long outage


class CatchUp(StrEnum):
    SKIP = "skip"
    ONCE = "once"


@dataclass(frozen=True, slots=True)
class RecurringBuy:
    cron: str
    timezone: str = "UTC"
    catch_up: CatchUp = CatchUp.SKIP

    @classmethod
    def of(
        cls, *, every: str | None, cron: str | None, timezone: str, catch_up: str
    ) -> RecurringBuy:
        expression = EVERY_AS_CRON[every] if every is not None else cron
        if expression is None:
            raise ValueError("a recurring buy needs every or cron")
        return cls(expression, timezone, CatchUp(catch_up))

    def slots_after(self, moment: datetime) -> Iterator[datetime]:
        """Slot instants (aware UTC) strictly after ``moment``, in order."""
        zone = ZoneInfo(self.timezone)
        times = croniter(self.cron, moment.astimezone(zone))
        while True:
            yield times.get_next(datetime).astimezone(UTC)

    def next_slot(self, moment: datetime) -> datetime:
        return next(self.slots_after(moment))


@dataclass(frozen=True, slots=True)
class SlotDecision:
    buy: datetime | None  # the slot to buy now (its key), if any
    settled_through: datetime | None  # every slot up to here is dealt with (bought or dropped)
    missed: int  # slots dropped by this decision


def decide_slot(
    schedule: RecurringBuy, *, settled_through: datetime, now: datetime
) -> SlotDecision:
    """What to do at ``now`` given that every slot up to ``settled_through`` is dealt with."""
    due: list[datetime] = []
    for slot in schedule.slots_after(settled_through):
        if slot > now or len(due) >= MAX_SLOTS_SCANNED:
            break
        due.append(slot)
    if not due:
        return SlotDecision(None, None, 0)
    newest = due[-1]
    if now - newest <= _grace(schedule, newest):
        return SlotDecision(newest, newest, len(due) - 1)
    if schedule.catch_up is CatchUp.ONCE:
        return SlotDecision(newest, newest, len(due) - 1)
    return SlotDecision(None, newest, len(due))


def _grace(schedule: RecurringBuy, slot: datetime) -> timedelta:
    """A quarter of the gap to the next slot, at most 15 minutes: late but still this slot."""
    return min(MAX_GRACE, (schedule.next_slot(slot) - slot) / 4)
