"""Moving a bot along its status machine: the conflict a refused move raises, and the one way
a move is finished (version bumped, event journaled, flushed, the runtime's command returned).

Shared by the user's controls (controls.py) and the runtime's reports (service.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.dispatch import BotCommand, BotCommandKind
from autogrid.bots.lifecycle import BotAction, IllegalTransition, next_status
from autogrid.core.errors import Conflict
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot
from autogrid.models.bot import BotStatus

logger = logging.getLogger(__name__)

# Who took a bot out of running (``bots.stop_initiator``, ``data.initiator`` of stop events).
STOPPED_BY_OWNER = "owner"
STOPPED_BY_BOT = "bot"
# Back in the running set: the last stop no longer describes the bot.
_ACTIVE = frozenset({BotStatus.STARTING, BotStatus.RUNNING})


class BotStatusConflict(Conflict):
    """The bot's status forbids the request; ``details.status`` is the current one."""

    code = "bot_status_conflict"

    def __init__(self, message: str, bot: Bot) -> None:
        super().__init__(message, details={"status": bot.status})


@dataclass(frozen=True, slots=True)
class BotTransition:
    bot: Bot
    command: BotCommand | None  # dispatch it after commit; None: nothing for the runtime to do


def next_status_or_conflict(bot: Bot, action: BotAction) -> BotStatus:
    try:
        return next_status(action, BotStatus(bot.status))
    except IllegalTransition as error:
        raise BotStatusConflict(str(error), bot) from None


async def finish_transition(
    session: AsyncSession,
    bot: Bot,
    kind: EventType,
    message: str,
    now: datetime,
    data: dict[str, Any] | None,
    command: BotCommandKind | None,
) -> BotTransition:
    touch(bot, now)
    if bot.status in _ACTIVE:
        bot.stop_initiator = None
    record_bot_event(session, bot, kind, message, now, data)
    await session.flush()
    logger.info("bot %s bot_id=%s status=%s", kind, bot.id, bot.status)
    return BotTransition(bot, BotCommand(bot.id, command, bot.version) if command else None)


def touch(bot: Bot, now: datetime) -> None:
    # A newer version tells a worker holding an older copy of the row to reload it.
    bot.version += 1
    bot.updated_at = now


def record_bot_event(
    session: AsyncSession,
    bot: Bot,
    kind: EventType,
    message: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    record_event(
        session, user_id=bot.user_id, bot_id=bot.id, type=kind, message=message, at=now, data=data
    )
