"""SQL for the engine's view of a bot row: read it, find bots by status, and bring its next tick
forward (a step locks the row with ``bots.repository.lock_bot_row``).

Leases and due-tick claims are ``autogrid.scheduling.repository``'s, the kill switch is
``autogrid.risk.repository``'s, metric samples ``autogrid.performance.repository``'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot

# --- due ticks ----------------------------------------------------------------------------


async def schedule_now(session: AsyncSession, bot_id: uuid.UUID, now: datetime) -> None:
    await session.execute(
        update(Bot)
        .where(Bot.id == bot_id)
        .values(next_tick_at=now)
        .execution_options(synchronize_session=False)
    )


# --- rows ---------------------------------------------------------------------------------


async def get_bot(session: AsyncSession, bot_id: uuid.UUID) -> Bot | None:
    bot: Bot | None = await session.scalar(
        select(Bot).where(Bot.id == bot_id).execution_options(populate_existing=True)
    )
    return bot


async def bots_in(session: AsyncSession, statuses: Collection[str]) -> Sequence[Bot]:
    rows = await session.scalars(select(Bot).where(Bot.status.in_(list(statuses))))
    return rows.all()


async def count_in(session: AsyncSession, statuses: Collection[str]) -> int:
    total = await session.scalar(
        select(func.count()).select_from(Bot).where(Bot.status.in_(list(statuses)))
    )
    return int(total or 0)
