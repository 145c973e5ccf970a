"""The end of a replay: every stored candle is played, so the bot stops itself and says so.

A replay bot left ``running`` at its last close would show its owner a bot that trades while
nothing can happen any more. It takes the normal stop path instead (its open orders cancelled,
the base kept), with a ``replay_finished`` event naming the last candle played.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.engine.guard import request_stop
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import BotStatus

REPLAY_FINISHED = EventType.REPLAY_FINISHED.value


async def finish_replay(
    session: AsyncSession, bot_id: uuid.UUID, last_close: datetime, now: datetime
) -> bool:
    """running -> stopping with the reason, in the caller's transaction; False if the bot is no
    longer running."""
    message = (
        f"the replay has played every stored candle (the last closed at "
        f"{last_close.isoformat()}): the bot stops"
    )
    bot = await bot_rows.lock_bot_row(session, bot_id)
    if bot is None or bot.status != BotStatus.RUNNING:
        return False
    await request_stop(
        session,
        bot,
        cancel_orders=True,
        sell_base=False,
        reason=REPLAY_FINISHED,
        now=now,
        message="stop requested: the replay finished",
    )
    record_event(
        session,
        user_id=bot.user_id,
        bot_id=bot_id,
        type=EventType.REPLAY_FINISHED,
        message=message,
        at=now,
        data={"last_close": last_close.isoformat()},
    )
    return True
