"""SQL for the runtime's orders, their events and fills, and the strategy's fill inbox.

Order rows are updated with an optimistic version check (``WHERE version = :seen``): two writers
that read the same row cannot both apply their change; the loser reloads and re-applies its pure
update to the fresh row (execution/transitions.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Fill, Order, OrderEvent, StrategyInboxEntry
from autogrid.orders.values import OrderView
from autogrid.trading.orders.states import TERMINAL_STATUSES, OrderStatus

NON_TERMINAL_STATUSES: tuple[str, ...] = tuple(
    status.value for status in OrderStatus if status not in TERMINAL_STATUSES
)


async def get_order(session: AsyncSession, order_id: uuid.UUID) -> Order | None:
    order: Order | None = await session.scalar(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    )
    return order


# Built once: every tick runs these, and building a statement costs more than running it.
_LIVE_ORDERS = (
    select(Order)
    .where(Order.bot_id == bindparam("bot"), Order.status.in_(NON_TERMINAL_STATUSES))
    .order_by(Order.created_at, Order.id)
    .execution_options(populate_existing=True)
)
_LIVE_ROWS = (
    select(*Order.__table__.columns)
    .where(Order.bot_id == bindparam("bot"), Order.status.in_(NON_TERMINAL_STATUSES))
    .order_by(Order.created_at, Order.id)
)
_LIVE_ROWS_OF_BOTS = (
    select(*Order.__table__.columns)
    .where(
        Order.bot_id.in_(bindparam("bots", expanding=True)),
        Order.status.in_(NON_TERMINAL_STATUSES),
    )
    .order_by(Order.created_at, Order.id)
)
_INBOX_SIZE = select(func.count()).where(StrategyInboxEntry.bot_id == bindparam("bot"))


async def live_orders(session: AsyncSession, bot_id: uuid.UUID) -> Sequence[Order]:
    """The bot's orders that are not terminal (NEW included), oldest first."""
    rows = await session.scalars(_LIVE_ORDERS, {"bot": bot_id})
    return rows.all()


async def bots_with_live_orders(session: AsyncSession, limit: int) -> Sequence[uuid.UUID]:
    rows = await session.scalars(
        select(Order.bot_id)
        .where(Order.status.in_(NON_TERMINAL_STATUSES))
        .group_by(Order.bot_id)
        .limit(limit)
    )
    return rows.all()


def add_order(session: AsyncSession, order: Order) -> None:
    session.add(order)


def add_order_event(session: AsyncSession, event: OrderEvent) -> None:
    session.add(event)


async def update_order(
    session: AsyncSession, order_id: uuid.UUID, seen_version: int, values: Mapping[str, Any]
) -> bool:
    """Write ``values`` if the row is still at ``seen_version`` (and bump it); False if not."""
    result = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.version == seen_version)
        .values(**values, version=seen_version + 1)
        .execution_options(synchronize_session=False)
    )
    assert isinstance(result, CursorResult)
    return result.rowcount == 1


async def advance_trade_scan(
    session: AsyncSession, order_ids: Collection[uuid.UUID], scanned_to: datetime
) -> None:
    """Move the orders' history-scan cursor forward to ``scanned_to`` (never back). Not a state
    change: no version bump, so it never makes a concurrent state write stale."""
    if not order_ids:
        return
    await session.execute(
        update(Order)
        .where(
            Order.id.in_(list(order_ids)),
            or_(Order.trades_scanned_to.is_(None), Order.trades_scanned_to < scanned_to),
        )
        .values(trades_scanned_to=scanned_to)
        .execution_options(synchronize_session=False)
    )


async def applied_trade_ids(session: AsyncSession, order_id: uuid.UUID) -> set[str]:
    rows = await session.scalars(select(Fill.trade_id).where(Fill.order_id == order_id))
    return set(rows.all())


def add_fill(session: AsyncSession, fill: Fill) -> None:
    """The fill and its inbox entry: the strategy will see it exactly once."""
    session.add(fill)
    session.add(StrategyInboxEntry(bot_id=fill.bot_id, fill_id=fill.id, fill_ts=fill.ts))


async def known_client_order_ids(session: AsyncSession, candidates: Collection[str]) -> set[str]:
    if not candidates:
        return set()
    rows = await session.scalars(
        select(Order.client_order_id).where(Order.client_order_id.in_(list(candidates)))
    )
    return set(rows.all())


async def rejected_order_ids(
    session: AsyncSession, bot_id: uuid.UUID, client_ids: Collection[str]
) -> dict[str, uuid.UUID]:
    """This bot's REJECTED orders among ``client_ids`` (client order id -> row id)."""
    if not client_ids:
        return {}
    rows = await session.execute(
        select(Order.client_order_id, Order.id).where(
            Order.bot_id == bot_id,
            Order.status == "rejected",
            Order.client_order_id.in_(list(client_ids)),
        )
    )
    return {client_id: order_id for client_id, order_id in rows.all()}


async def order_ids_by_client_id(
    session: AsyncSession, bot_id: uuid.UUID, client_ids: Collection[str]
) -> dict[str, uuid.UUID]:
    if not client_ids:
        return {}
    rows = await session.execute(
        select(Order.client_order_id, Order.id).where(
            Order.bot_id == bot_id, Order.client_order_id.in_(list(client_ids))
        )
    )
    return {client_id: order_id for client_id, order_id in rows.all()}


async def inbox(
    session: AsyncSession, bot_id: uuid.UUID, limit: int
) -> Sequence[tuple[int, Fill, Order]]:
    """Fills the strategy has not seen, in the order they were recorded, with their orders."""
    rows = await session.execute(
        select(StrategyInboxEntry.id, Fill, Order)
        .join(
            Fill,
            (Fill.id == StrategyInboxEntry.fill_id) & (Fill.ts == StrategyInboxEntry.fill_ts),
        )
        .join(Order, Order.id == Fill.order_id)
        .where(StrategyInboxEntry.bot_id == bot_id)
        .order_by(StrategyInboxEntry.id)
        .limit(limit)
    )
    return [(entry_id, fill, order) for entry_id, fill, order in rows.all()]


async def inbox_fills(session: AsyncSession, bot_id: uuid.UUID) -> Sequence[Fill]:
    """Every fill of the bot's inbox, in the order the strategy will see them."""
    rows = await session.scalars(
        select(Fill)
        .join(
            StrategyInboxEntry,
            (Fill.id == StrategyInboxEntry.fill_id) & (Fill.ts == StrategyInboxEntry.fill_ts),
        )
        .where(StrategyInboxEntry.bot_id == bot_id)
        .order_by(StrategyInboxEntry.id)
    )
    return rows.all()


async def live_order_rows(session: AsyncSession, bot_id: uuid.UUID) -> list[OrderView]:
    """``live_orders`` as plain rows: read-only, and much cheaper than ORM objects."""
    rows = await session.execute(_LIVE_ROWS, {"bot": bot_id})
    return cast("list[OrderView]", list(rows.all()))


async def live_order_rows_of(
    session: AsyncSession, bot_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[OrderView]]:
    """``live_order_rows`` of many bots in one query (each bot's oldest first; none: [])."""
    found: dict[uuid.UUID, list[OrderView]] = {bot_id: [] for bot_id in bot_ids}
    if found:
        for row in await session.execute(_LIVE_ROWS_OF_BOTS, {"bots": list(found)}):
            found[row.bot_id].append(cast("OrderView", row))
    return found


async def inbox_size(session: AsyncSession, bot_id: uuid.UUID) -> int:
    total = await session.scalar(select(func.count()).where(StrategyInboxEntry.bot_id == bot_id))
    return int(total or 0)


async def clear_inbox(session: AsyncSession, entry_ids: Collection[int]) -> None:
    if entry_ids:
        await session.execute(
            delete(StrategyInboxEntry).where(StrategyInboxEntry.id.in_(list(entry_ids)))
        )


async def bot_fills(session: AsyncSession, bot_id: uuid.UUID) -> Sequence[Fill]:
    """Every fill of the bot, oldest first (stats fold them in this order)."""
    rows = await session.scalars(
        select(Fill).where(Fill.bot_id == bot_id).order_by(Fill.ts, Fill.trade_id)
    )
    return rows.all()
