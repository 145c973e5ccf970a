"""Reading a user's orders and trades; a bot's are visible only to its owner."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import service as bots
from autogrid.core.errors import NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.models import Bot, Fill, Order, OrderEvent, User
from autogrid.orders import repository
from autogrid.trading.orders.states import OrderStatus

# Enough for years of a busy grid; a longer history is exported a time range at a time.
MAX_EXPORT_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class OrderHistory:
    order: Order
    events: Sequence[OrderEvent]
    fills: Sequence[Fill]


@dataclass(frozen=True, slots=True)
class TradeExport:
    bot: Bot
    fills: Sequence[Fill]
    truncated: bool  # more than MAX_EXPORT_ROWS matched: narrow since/until


async def list_bot_orders(
    session: AsyncSession,
    user: User,
    bot_id: uuid.UUID,
    page: PageParams,
    *,
    statuses: Collection[OrderStatus] = (),
) -> tuple[Sequence[Order], int]:
    bot = await bots.get_bot(session, user, bot_id)
    return await repository.list_bot_orders(
        session, bot.id, statuses=statuses, limit=page.limit, offset=page.offset
    )


async def get_order(session: AsyncSession, user: User, order_id: uuid.UUID) -> OrderHistory:
    order = await repository.get_order(session, user.id, order_id)
    if order is None:
        raise NotFound("order not found")
    events = await repository.order_events(session, order.id)
    fills = await repository.order_fills(session, order.bot_id, order.id)
    return OrderHistory(order, events, fills)


def _check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise Unprocessable(
            "until must be after since",
            details=[{"loc": ["query", "until"], "msg": "must be after since", "type": "invalid"}],
        )


async def list_trades(
    session: AsyncSession,
    user: User,
    bot_id: uuid.UUID,
    page: PageParams,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[Fill], int]:
    _check_range(since, until)
    bot = await bots.get_bot(session, user, bot_id)
    return await repository.list_fills(
        session, bot.id, since=since, until=until, limit=page.limit, offset=page.offset
    )


async def export_trades(
    session: AsyncSession,
    user: User,
    bot_id: uuid.UUID,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> TradeExport:
    """The bot's trades, oldest first, up to MAX_EXPORT_ROWS."""
    _check_range(since, until)
    bot = await bots.get_bot(session, user, bot_id)
    fills = await repository.oldest_fills(
        session, bot.id, since=since, until=until, limit=MAX_EXPORT_ROWS + 1
    )
    return TradeExport(bot, fills[:MAX_EXPORT_ROWS], truncated=len(fills) > MAX_EXPORT_ROWS)
