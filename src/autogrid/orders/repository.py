"""SQL for reading orders, their events and fills."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Connectable
from autogrid.core.paged_rows import PagedQuery, page_and_total, paged_query, run_paged_rows
from autogrid.models import Bot, Fill, Order, OrderEvent


def _bot_orders(bot_id: uuid.UUID, statuses: Collection[str]) -> Select[Order]:
    query = select(Order).where(Order.bot_id == bot_id)
    if statuses:
        query = query.where(Order.status.in_(statuses))
    return query


_NEWEST_FIRST = (Order.created_at.desc(), Order.id.desc())


async def list_bot_orders(
    session: AsyncSession,
    bot_id: uuid.UUID,
    *,
    statuses: Collection[str],
    limit: int,
    offset: int,
) -> tuple[Sequence[Order], int]:
    query = _bot_orders(bot_id, statuses)
    return await page_and_total(session, query, _NEWEST_FIRST, limit=limit, offset=offset)


async def list_owned_bot_orders(
    reads: Connectable,
    user_id: uuid.UUID,
    bot_id: uuid.UUID,
    *,
    statuses: Collection[str],
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """As ``list_bot_orders``, and nothing unless ``user_id`` owns the bot: the owner check is in
    the same statement, so a page of orders needs no read of the bot before it. Rows of the
    orders table's columns on the session's connection, for reading only: no ORM object is
    built and tracked per order (that cost a page of orders more than its query)."""
    values: dict[str, Any] = {"bot_id": bot_id, "user_id": user_id}
    if statuses:
        values["statuses"] = list(statuses)
    query = _owned_bot_orders(bool(statuses))
    return await run_paged_rows(reads, query, values, limit=limit, offset=offset)


@functools.cache
def _owned_bot_orders(by_status: bool) -> PagedQuery[Any]:
    """Built once per shape (its values bound): building it cost more than running it."""
    owned = exists().where(Bot.id == bindparam("bot_id"), Bot.user_id == bindparam("user_id"))
    query = select(*Order.__table__.c).where(Order.bot_id == bindparam("bot_id"), owned)
    if by_status:
        query = query.where(Order.status.in_(bindparam("statuses", expanding=True)))
    return paged_query(query, _NEWEST_FIRST)


async def get_order(session: AsyncSession, user_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
    order: Order | None = await session.scalar(
        select(Order).where(Order.id == order_id, Order.user_id == user_id)
    )
    return order


async def order_events(session: AsyncSession, order_id: uuid.UUID) -> Sequence[OrderEvent]:
    rows = await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return rows.all()


async def order_fills(
    session: AsyncSession, bot_id: uuid.UUID, order_id: uuid.UUID
) -> Sequence[Fill]:
    rows = await session.scalars(
        select(Fill)
        .where(Fill.bot_id == bot_id, Fill.order_id == order_id)
        .order_by(Fill.traded_at, Fill.ts, Fill.trade_id)
    )
    return rows.all()


def _fills(bot_id: uuid.UUID, since: datetime | None, until: datetime | None) -> Select[Any]:
    """A bot's fills traded (``Fill.traded_at``, the time shown) in [since, until)."""
    query = select(Fill).where(Fill.bot_id == bot_id)
    if since is not None:
        # A fill settles at or after it traded, so the indexed ts bound drops no match.
        query = query.where(Fill.ts >= since, Fill.traded_at >= since)
    if until is not None:
        query = query.where(Fill.traded_at < until)
    return query


async def list_fills(
    session: AsyncSession,
    bot_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[Sequence[Fill], int]:
    query = _fills(bot_id, since, until)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Fill.traded_at.desc(), Fill.ts.desc(), Fill.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total or 0


async def oldest_fills(
    session: AsyncSession,
    bot_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> Sequence[Fill]:
    rows = await session.scalars(
        _fills(bot_id, since, until).order_by(Fill.traded_at, Fill.ts, Fill.id).limit(limit)
    )
    return rows.all()
