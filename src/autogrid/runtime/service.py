"""What the API asks of the runtime: cancel an order, a bot's stats and performance series,
and the global kill switch. Services flush; the request commits; nothing here calls an exchange
(a cancel is committed as PENDING_CANCEL and the bot's next tick sends it)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import service as bots
from autogrid.bots.ledger import Ledger, roi_pct, split_symbol
from autogrid.bots.state import load_state
from autogrid.core.errors import Conflict, NotFound, Unprocessable
from autogrid.core.sqltypes import utcnow
from autogrid.engine import repository
from autogrid.engine.guard import TripCode, count_trip, halt
from autogrid.engine.recording import investment_of
from autogrid.events.journal import record_for_bot_owners
from autogrid.events.types import EventType
from autogrid.execution.order_writer import BotRef, OrderWriter, StaleOrder
from autogrid.models import GLOBAL_KILL_SWITCH, BotStatus, KillSwitch, Order, User
from autogrid.orders import repository as orders_read
from autogrid.orders import store as order_repository
from autogrid.performance import repository as metrics_repository
from autogrid.performance.repository import MetricPoint
from autogrid.runtime.schemas import BotStats, MetricInterval
from autogrid.trading.orders import OrderStatus, is_terminal

logger = logging.getLogger(__name__)

MAX_METRIC_POINTS = 2000
DEFAULT_METRICS_SPAN = timedelta(days=7)
_KILLABLE = (BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED)
# After a cancel request these still need the exchange (or the order's resolution first).
_AWAITING_EXCHANGE = frozenset(
    {OrderStatus.PENDING_CANCEL, OrderStatus.SUBMITTING, OrderStatus.UNKNOWN}
)


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"


# --- cancelling one order -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CancelResult:
    order: Order
    status: OrderStatus
    pending: bool


async def cancel_order(session: AsyncSession, user: User, order_id: uuid.UUID) -> CancelResult:
    """Withdraw a NEW order, or commit the cancel request of a live one (PENDING_CANCEL). An
    order still being placed (SUBMITTING/UNKNOWN) is cancelled as soon as it is resolved."""
    order = await orders_read.get_order(session, user.id, order_id)
    if order is None:
        raise NotFound("order not found")
    status = OrderStatus(order.status)
    if is_terminal(status):
        raise OrderNotCancellable(
            f"the order is {status.value}: nothing to cancel", details={"status": status.value}
        )
    writer = OrderWriter(BotRef(order.bot_id, order.user_id, order.exchange, order.symbol))
    fresh = await order_repository.get_order(session, order.id)
    assert fresh is not None
    try:
        outcome = await writer.cancel_in(session, fresh, utcnow())
    except StaleOrder:
        raise Conflict("the order changed meanwhile; try again") from None
    await session.flush()
    writer.count([outcome])  # counted before commit: the request's commit follows at once
    new_status = outcome.order.status
    pending = new_status in (
        OrderStatus.PENDING_CANCEL,
        OrderStatus.SUBMITTING,
        OrderStatus.UNKNOWN,
    )
    logger.info("order %s cancel requested by user %s: %s", order.id, user.id, new_status)
    return CancelResult(fresh, new_status, pending)


# --- stats and performance ----------------------------------------------------------------


async def bot_stats(session: AsyncSession, user: User, bot_id: uuid.UUID) -> BotStats:
    bot = await bots.get_bot(session, user, bot_id)
    base, quote = split_symbol(bot.symbol)
    ledger = Ledger()
    for fill in await order_repository.bot_fills(session, bot.id):
        ledger = ledger.add(
            side=fill.side,
            price=fill.price,
            amount=fill.amount,
            fee=fill.fee,
            fee_currency=fill.fee_currency,
            base=base,
            quote=quote,
        )
    state = load_state(bot)
    price = Decimal(state.last_price) if state.last_price else None
    unrealized = ledger.unrealized(price)
    total = ledger.realized + unrealized
    investment = investment_of(bot.investment, state)
    strategy_state = state.strategy or {}
    grid_profit = Decimal(strategy_state.get("grid_profit", "0")) if bot.type == "grid" else None
    return BotStats(
        bot_id=bot.id,
        symbol=bot.symbol,
        base=base,
        quote=quote,
        price=price,
        position=ledger.position,
        average_entry=ledger.average_entry,
        realized_pnl=ledger.realized,
        unrealized_pnl=unrealized,
        total_pnl=total,
        grid_profit=grid_profit,
        fees=ledger.fees,
        investment=investment,
        roi_pct=roi_pct(total, investment),
        trades=ledger.trades,
        buys=ledger.buys,
        sells=ledger.sells,
        volume=ledger.volume,
    )


async def bot_metrics(
    session: AsyncSession,
    user: User,
    bot_id: uuid.UUID,
    interval: MetricInterval,
    since: datetime | None,
    until: datetime | None,
) -> tuple[datetime, datetime, list[MetricPoint]]:
    bot = await bots.get_bot(session, user, bot_id)
    until = until or utcnow()
    since = since or until - DEFAULT_METRICS_SPAN
    if until <= since:
        raise Unprocessable(
            "until must be after since",
            details=[{"loc": ["query", "until"], "msg": "must be after since", "type": "invalid"}],
        )
    points = await metrics_repository.bucketed(
        session, bot.id, interval.seconds, since, until, MAX_METRIC_POINTS
    )
    return since, until, points


# --- the global kill switch ---------------------------------------------------------------


async def kill_switch_status(session: AsyncSession) -> KillSwitch | None:
    return await repository.kill_switch(session)


async def engage_kill_switch(
    session: AsyncSession, admin: User, reason: str
) -> tuple[KillSwitch, int]:
    """Engage (idempotent) and halt every starting, running or paused bot at once. Every tick
    also reads the switch, so a bot started later, or a tick mid-way, is stopped too."""
    now = utcnow()
    row = await repository.kill_switch(session)
    if row is None:
        row = KillSwitch(scope=GLOBAL_KILL_SWITCH, engaged=True, changed_at=now)
        repository.add_kill_switch(session, row)
    row.engaged, row.reason, row.changed_by, row.changed_at = True, reason, admin.id, now
    await session.flush()
    await record_for_bot_owners(
        session,
        EventType.KILL_SWITCH_ENGAGED,
        f"trading is stopped for every bot: {reason}",
        now,
        {"reason": reason},
    )
    halted = 0
    for bot in await repository.bots_in(session, _KILLABLE):
        locked = await repository.lock_bot(session, bot.id)
        if locked is not None and await halt(session, locked, f"kill switch: {reason}"):
            halted += 1
    for _ in range(halted):
        count_trip(TripCode.KILL_SWITCH)
    logger.warning("kill switch engaged by %s (%s): %d bots halted", admin.id, reason, halted)
    return row, halted


async def release_kill_switch(session: AsyncSession, admin: User) -> KillSwitch:
    """New orders are allowed again; halted bots stay halted until their owners reset them."""
    row = await repository.kill_switch(session)
    if row is None or not row.engaged:
        raise Conflict("the kill switch is not engaged")
    row.engaged, row.changed_by, row.changed_at = False, admin.id, utcnow()
    await session.flush()
    await record_for_bot_owners(
        session,
        EventType.KILL_SWITCH_RELEASED,
        "trading is allowed again; halted bots stay halted until reset",
        row.changed_at,
        {},
    )
    logger.warning("kill switch released by %s", admin.id)
    return row
