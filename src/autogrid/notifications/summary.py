"""The daily summary: once a day, at the hour the user chose in their own time zone, one
``daily_summary`` event with the day's trades, realised P&L and bots by status.

It is an ordinary account-level event, so the outbox trigger sends it to every channel that
subscribes to ``daily_summary`` (the per-channel opt-in), through the same delivery path,
retries and log as any other event; the live streams show it too. A beat job runs every few
minutes (``tasks.send_daily_summaries``); the key (user, local day) in ``daily_summaries`` is
claimed in the transaction that records the event, so several beats or workers running it at
once, or a run repeated after a crash, send one summary a day. A run that comes late (the
fleet was down at that hour) still sends that day's summary, covering the 24 hours up to the
chosen hour.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.core.errors import Unprocessable
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import NotificationPreferences
from autogrid.notifications import summary_repository as repository

logger = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "UTC"
DEFAULT_SUMMARY_HOUR = 8
_RUNNING = ("running", "starting")
_STOPPED = ("stopped", "stopping")
_ERRORED = ("error", "halted")


@dataclass(frozen=True, slots=True)
class SummaryTime:
    timezone: str
    hour: int

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def due_day(self, now: datetime) -> date | None:
        """The local day whose summary is due at ``now`` (its hour has come), else None."""
        local = now.astimezone(self.zone())
        return local.date() if local.hour >= self.hour else None

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The 24 hours (23 or 25 across a clock change) up to ``day`` at the hour, in UTC."""
        end = datetime.combine(day, time(self.hour), tzinfo=self.zone())
        start = datetime.combine(day - timedelta(days=1), time(self.hour), tzinfo=self.zone())
        return start.astimezone(UTC), end.astimezone(UTC)


def summary_time(timezone: str | None, hour: int | None) -> SummaryTime:
    return SummaryTime(timezone or DEFAULT_TIMEZONE, DEFAULT_SUMMARY_HOUR if hour is None else hour)


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str) -> str:
    """The name, if it is an IANA time zone (``ZoneInfo`` alone also opens odd file paths)."""
    if name not in _known_zones():
        raise Unprocessable("unknown time zone (an IANA name such as Europe/Paris)")
    return name


async def send_daily_summaries(database: Database, now: datetime) -> int:
    """Record the summaries due at ``now``; how many this run recorded. Each user in a
    transaction of their own: one user's failure does not hold the others back."""
    async with database.session_scope() as session:
        wanted = await repository.subscribers(session)
    sent = 0
    for user_id, timezone, hour in wanted:
        when = summary_time(timezone, hour)
        day = when.due_day(now)
        if day is None:
            continue
        try:
            async with database.session_scope() as session:
                sent += await _summarise(session, user_id, when, day, now)
        except Exception:  # logged; the next run tries again (the key was rolled back)
            logger.exception("daily summary failed user_id=%s day=%s", user_id, day)
    return sent


async def _summarise(
    session: AsyncSession, user_id: uuid.UUID, when: SummaryTime, day: date, now: datetime
) -> int:
    if not await repository.claim_day(session, user_id, day, now):
        return 0  # already sent (or being sent by another run)
    start, end = when.window(day)
    data = await _day_data(session, user_id, start, end)
    data |= {"day": day.isoformat(), "timezone": when.timezone}
    event = record_event(
        session,
        user_id=user_id,
        bot_id=None,
        type=EventType.DAILY_SUMMARY,
        message=_message(day, data),
        at=now,
        data=data,
    )
    await session.flush()
    await repository.link_event(session, user_id, day, event.id)
    logger.info("daily summary recorded user_id=%s day=%s", user_id, day)
    return 1


async def _day_data(
    session: AsyncSession, user_id: uuid.UUID, start: datetime, end: datetime
) -> dict[str, Any]:
    before = {bot: value for bot, _, value in await repository.realized_at(session, user_id, start)}
    realized: dict[str, Decimal] = defaultdict(Decimal)
    for bot_id, symbol, value in await repository.realized_at(session, user_id, end):
        quote = symbol.split("/")[-1]
        # Realised P&L starts at zero: a bot with no sample before the window made all of it
        # within the window.
        realized[quote] += (value or Decimal(0)) - (before.get(bot_id) or Decimal(0))
    statuses = await repository.bots_by_status(session, user_id)
    return {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "trades": await repository.trades_between(session, user_id, start, end),
        "realized_pnl": {quote: str(amount) for quote, amount in sorted(realized.items())},
        "bots": {
            "running": sum(statuses.get(s, 0) for s in _RUNNING),
            "paused": statuses.get("paused", 0),
            "stopped": sum(statuses.get(s, 0) for s in _STOPPED),
            "errored": sum(statuses.get(s, 0) for s in _ERRORED),
        },
    }


def _message(day: date, data: dict[str, Any]) -> str:
    pnl = ", ".join(f"{Decimal(v):+f} {quote}" for quote, v in data["realized_pnl"].items())
    bots = data["bots"]
    return (
        f"Daily summary {day.isoformat()}: {data['trades']} trades, realised P&L "
        f"{pnl or 'none'}; bots: {bots['running']} running, {bots['paused']} paused, "
        f"{bots['stopped']} stopped, {bots['errored']} errored"
    )


async def get_preferences(session: AsyncSession, user_id: uuid.UUID) -> SummaryTime:
    row = await repository.preferences(session, user_id)
    return summary_time(row.timezone if row else None, row.daily_summary_hour if row else None)


async def set_preferences(
    session: AsyncSession, user_id: uuid.UUID, wanted: SummaryTime, now: datetime
) -> SummaryTime:
    check_timezone(wanted.timezone)
    row = await repository.preferences(session, user_id, lock=True)
    if row is None:
        row = NotificationPreferences(user_id=user_id)
        repository.add_preferences(session, row)
    row.timezone, row.daily_summary_hour, row.updated_at = wanted.timezone, wanted.hour, now
    await session.flush()
    return wanted
