"""A user's orders and trades (a bot's are visible only to its owner), and cancelling one order.

Services flush; the request commits. Nothing here calls an exchange: a cancel is committed as
PENDING_CANCEL and the bot's next tick sends it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import service as bots
from autogrid.core.db import Connectable
from autogrid.core.errors import Conflict, NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.execution.order_writer import BotRef, OrderWriter, StaleOrder
from autogrid.models import Bot, Fill, Order, OrderEvent, UserIdentity
from autogrid.orders import repository
from autogrid.orders import store as order_store
from autogrid.trading.orders import is_terminal
from autogrid.trading.orders.states import OrderStatus

logger = logging.getLogger(__name__)

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
    reads: Connectable,
    user: UserIdentity,
    bot_id: uuid.UUID,
    page: PageParams,
    *,
    statuses: Collection[OrderStatus] = (),
) -> tuple[list[Row[Any]], int]:
    """The bot's orders as rows of the orders table, to read only."""
    orders, total = await repository.list_owned_bot_orders(
        reads, user.id, bot_id, statuses=statuses, limit=page.limit, offset=page.offset
    )
    if not orders:  # none of the bot's, or no bot of the user's: only now is the bot looked up
        await bots.check_owned(reads, user, bot_id)
    return orders, total


async def get_order(session: AsyncSession, user: UserIdentity, order_id: uuid.UUID) -> OrderHistory:
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
    user: UserIdentity,
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
    user: UserIdentity,
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


# --- cancelling one order -----------------------------------------------------------------


# After a cancel request these still need the exchange (or the order's resolution first).
_AWAITING_EXCHANGE = frozenset(
    {OrderStatus.PENDING_CANCEL, OrderStatus.SUBMITTING, OrderStatus.UNKNOWN}
)


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"


@dataclass(frozen=True, slots=True)
class CancelResult:
    order: Order
    status: OrderStatus
    pending: bool


async def cancel_order(
    session: AsyncSession, user: UserIdentity, order_id: uuid.UUID
) -> CancelResult:
    """Withdraw a NEW order, or commit the cancel request of a live one (PENDING_CANCEL). An
    order still being placed (SUBMITTING/UNKNOWN) is cancelled as soon as it is resolved."""
    order = await repository.get_order(session, user.id, order_id)
    if order is None:
        raise NotFound("order not found")
    status = OrderStatus(order.status)
    if is_terminal(status):
        raise OrderNotCancellable(
            f"the order is {status.value}: nothing to cancel", details={"status": status.value}
        )
    writer = OrderWriter(BotRef(order.bot_id, order.user_id, order.exchange, order.symbol))
    fresh = await order_store.get_order(session, order.id)
    assert fresh is not None
    try:
        outcome = await writer.cancel_in(session, fresh, utcnow())
    except StaleOrder:
        raise Conflict("the order changed meanwhile; try again") from None
    await session.flush()
    writer.count([outcome])  # counted before commit: the request's commit follows at once
    new_status = outcome.order.status
    pending = new_status in _AWAITING_EXCHANGE
    logger.info("order %s cancel requested by user %s: %s", order.id, user.id, new_status)
    return CancelResult(fresh, new_status, pending)
