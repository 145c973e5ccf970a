"""SQL for a DCA bot's deals: the orders whose strategy tag names one of the given deals."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Order


async def orders_of_deals(
    session: AsyncSession, bot_id: uuid.UUID, numbers: Collection[int]
) -> Sequence[Order]:
    """The bot's orders tagged ``D{n}.…`` for each ``n`` in ``numbers``, oldest first.

    The tag lives in the order's ``intent`` JSON; ``LIKE 'D7.%'`` (the dot included) keeps deal
    7 apart from deals 70-79. At most one page of deals is asked for, so the ``OR`` stays short.
    """
    if not numbers:
        return ()
    tag = Order.intent["tag"].as_string()
    rows = await session.scalars(
        select(Order)
        .where(Order.bot_id == bot_id, or_(*(tag.like(f"D{n}.%") for n in sorted(numbers))))
        .order_by(Order.created_at, Order.id)
    )
    return rows.all()
