"""SQL for the global kill switch: one row, read by the admin routes and by every bot step."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import GLOBAL_KILL_SWITCH, KillSwitch


async def kill_switch(session: AsyncSession) -> KillSwitch | None:
    row: KillSwitch | None = await session.scalar(
        select(KillSwitch)
        .where(KillSwitch.scope == GLOBAL_KILL_SWITCH)
        .execution_options(populate_existing=True)
    )
    return row


async def kill_switch_engaged(session: AsyncSession) -> str | None:
    """The reason, if the global kill switch is engaged."""
    row = await session.execute(
        select(KillSwitch.engaged, KillSwitch.reason).where(KillSwitch.scope == GLOBAL_KILL_SWITCH)
    )
    found = row.first()
    if found is None or not found.engaged:
        return None
    return found.reason or "kill switch engaged"


def add_kill_switch(session: AsyncSession, row: KillSwitch) -> None:
    session.add(row)
