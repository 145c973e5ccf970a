"""SQL for recurring-buy slots (``scheduled_buys``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.sqltypes import utcnow
from autogrid.models import ScheduledBuy


async def claim_slot(
    session: AsyncSession,
    bot_id: uuid.UUID,
    slot_at: datetime,
    quote_amount: Decimal,
    missed_before: int,
) -> uuid.UUID | None:
    """The new row's id, or None if the slot was already taken. ``ON CONFLICT DO NOTHING`` (the
    same statement on PostgreSQL and SQLite) leaves the caller's transaction usable either way."""
    row_id = uuid.uuid4()
    values = {
        "id": row_id,
        "bot_id": bot_id,
        "slot_at": slot_at,
        "quote_amount": quote_amount,
        "missed_before": missed_before,
        "created_at": utcnow(),
    }
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    statement = (
        insert(ScheduledBuy)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["bot_id", "slot_at"])
    )
    result = await session.execute(statement)
    return row_id if getattr(result, "rowcount", 0) == 1 else None


async def link_order(session: AsyncSession, row_id: uuid.UUID, order_id: uuid.UUID) -> None:
    await session.execute(
        update(ScheduledBuy).where(ScheduledBuy.id == row_id).values(order_id=order_id)
    )


async def relink_order(session: AsyncSession, old_id: uuid.UUID, new_id: uuid.UUID) -> None:
    """A slot's buy, refused or never placed, was placed again as a new order: follow it."""
    await session.execute(
        update(ScheduledBuy).where(ScheduledBuy.order_id == old_id).values(order_id=new_id)
    )


async def slots_of(
    session: AsyncSession, bot_id: uuid.UUID, limit: int = 100
) -> Sequence[ScheduledBuy]:
    query = (
        select(ScheduledBuy)
        .where(ScheduledBuy.bot_id == bot_id)
        .order_by(ScheduledBuy.slot_at.desc())
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def count_slots(session: AsyncSession, bot_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(ScheduledBuy).where(ScheduledBuy.bot_id == bot_id)
    return int(await session.scalar(query) or 0)
