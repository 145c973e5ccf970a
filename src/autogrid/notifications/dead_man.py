"""The dead-man check: a bot that should be trading but has made no successful step for
several of its intervals gets a ``bot_stalled`` event (so its owner's channels hear of it).

A running bot's reference is its last successful decision (``last_tick_at``), or its start when
it never made one. It is stalled when that is older than ``missed_steps`` intervals (at least
``min_window``, so fast-ticking bots are not reported for a short hiccup). Each stall is
reported once: ``bot_stall_alerts`` remembers the ``last_tick_at`` it was about, and a bot that
stepped again and then stalls anew is reported anew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, BotStallAlert, BotStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StallPolicy:
    missed_steps: int = 5
    min_window: timedelta = timedelta(minutes=2)

    def window(self, tick_interval_seconds: int) -> timedelta:
        return max(self.min_window, timedelta(seconds=tick_interval_seconds * self.missed_steps))


DEFAULT_STALL_POLICY = StallPolicy()


def stalled_since(bot: Bot, now: datetime, policy: StallPolicy) -> datetime | None:
    """When the bot last showed life, if that is too long ago; None while it is fine."""
    reference = bot.last_tick_at or bot.started_at
    if reference is None or now - reference < policy.window(bot.tick_interval_seconds):
        return None
    return reference


async def alert_stalled_bots(
    session: AsyncSession, now: datetime, policy: StallPolicy = DEFAULT_STALL_POLICY
) -> int:
    """Journal one ``bot_stalled`` event per new stall; how many. Bots another transaction
    holds (a tick under way) are skipped: they are not stalled."""
    running = select(Bot).where(Bot.status == BotStatus.RUNNING.value).order_by(Bot.id)
    candidates = [
        bot.id for bot in (await session.scalars(running)).all() if stalled_since(bot, now, policy)
    ]
    if not candidates:
        return 0
    # Only the candidates are locked (never every running bot: ticks would queue behind us),
    # then read again under the lock.
    bots = (
        await session.scalars(
            running.where(Bot.id.in_(candidates))
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).all()
    alerted = 0
    for bot in bots:
        since = stalled_since(bot, now, policy)
        if since is None:
            continue
        previous = await session.get(BotStallAlert, bot.id, with_for_update=True)
        if previous is not None and previous.last_tick_at == bot.last_tick_at:
            continue  # this stall was reported already
        if previous is None:
            session.add(BotStallAlert(bot_id=bot.id, last_tick_at=bot.last_tick_at, alerted_at=now))
        else:
            previous.last_tick_at, previous.alerted_at = bot.last_tick_at, now
        minutes = int((now - since).total_seconds() // 60)
        record_event(
            session,
            user_id=bot.user_id,
            bot_id=bot.id,
            type=EventType.BOT_STALLED,
            message=f"{bot.name} has made no successful step for {minutes} minutes while running",
            at=now,
            data={
                "last_step_at": since.isoformat(),
                "tick_interval_seconds": bot.tick_interval_seconds,
            },
        )
        logger.warning("bot stalled bot_id=%s since=%s", bot.id, since.isoformat())
        alerted += 1
    await session.flush()
    return alerted
