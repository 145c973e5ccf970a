"""SQL of the fleet watchdog: its single state row, and who the administrators are."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import FleetAlertState, Role, User

STATE_ID = 1


async def lock_state(session: AsyncSession, now: datetime) -> FleetAlertState:
    """The state row, created on first use, locked until the transaction ends."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(FleetAlertState)
        .values(id=STATE_ID, checked_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    state = await session.scalar(
        select(FleetAlertState)
        .where(FleetAlertState.id == STATE_ID)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert state is not None  # inserted above if it was missing
    return state


async def active_admin_ids(session: AsyncSession) -> Sequence[uuid.UUID]:
    rows = await session.scalars(
        select(User.id).where(User.role == Role.ADMIN.value, User.is_active.is_(True))
    )
    return rows.all()
