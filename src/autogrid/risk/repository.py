"""SQL for the risk controls above one bot: the global kill switch (one row, read by the admin
routes and by every bot step) and each user's account limits with the figures they check."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, not_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges.types import Side
from autogrid.models import (
    GLOBAL_KILL_SWITCH,
    AccountLimit,
    AccountLimitNotice,
    Bot,
    BotDay,
    BotMode,
    Candle,
    Fill,
    KillSwitch,
    Order,
    StrategyInboxEntry,
)
from autogrid.orders.store import NON_TERMINAL_STATUSES
from autogrid.trading.account_limits import BookedValue
from autogrid.trading.orders import OrderStatus


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


# --- account limits ---------------------------------------------------------------------------

_UNFILLED_ENDS = (OrderStatus.CANCELED.value, OrderStatus.REJECTED.value, OrderStatus.EXPIRED.value)


async def account_limits(session: AsyncSession, user_id: uuid.UUID) -> AccountLimit | None:
    row: AccountLimit | None = await session.get(AccountLimit, user_id, populate_existing=True)
    return row


async def lock_account_limits(session: AsyncSession, user_id: uuid.UUID) -> AccountLimit | None:
    """The user's limits row, locked until the caller's transaction ends (``FOR UPDATE``; SQLite
    has no row locks, its single writer serialises the transactions instead)."""
    row: AccountLimit | None = await session.scalar(
        select(AccountLimit)
        .where(AccountLimit.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row


def add_account_limits(session: AsyncSession, row: AccountLimit) -> None:
    session.add(row)


async def entries_since(session: AsyncSession, user_id: uuid.UUID, since: datetime) -> int:
    """The user's buy orders written since ``since`` that may trade or did: neither refused by
    our checks nor ended by the exchange without a fill (a rejected order placed again counts
    once, by its replacement)."""
    never_traded = and_(Order.status.in_(_UNFILLED_ENDS), Order.filled == 0)
    count = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(
            Order.user_id == user_id,
            Order.side == Side.BUY.value,
            Order.created_at >= since,
            Order.status != OrderStatus.DENIED.value,
            not_(never_traded),
        )
    )
    return int(count or 0)


async def booked_on(session: AsyncSession, user_id: uuid.UUID, day: date) -> list[BotDay]:
    """What each of the user's bots booked on ``day`` (summed by the caller: SQLite keeps money
    as text, which its SUM would turn into a float)."""
    rows = await session.scalars(
        select(BotDay)
        .where(BotDay.user_id == user_id, BotDay.day == day)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


async def stored_usdt_close(
    session: AsyncSession,
    exchange: str,
    currency: str,
    timeframe: str,
    since: datetime,
    at: datetime,
) -> tuple[datetime, Decimal] | None:
    """The newest stored ``currency``/USDT ``timeframe`` candle of ``exchange`` opened after
    ``since`` and by ``at``: its open time and close."""
    row = (
        await session.execute(
            select(Candle.ts, Candle.close)
            .where(
                Candle.exchange == exchange,
                Candle.symbol == f"{currency}/USDT",
                Candle.timeframe == timeframe,
                Candle.ts > since,
                Candle.ts <= at,
            )
            .order_by(Candle.ts.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row.ts, row.close)


async def live_bots_last_price(
    session: AsyncSession, exchange: str, currency: str, since: datetime
) -> tuple[datetime, Any] | None:
    """The price the live bot trading ``currency``/USDT on ``exchange`` that ticked last, after
    ``since``, saw (its state's ``last_price``, as stored), with that tick's time."""
    row = (
        await session.execute(
            select(Bot.last_tick_at, Bot.state)
            .where(
                Bot.exchange == exchange,
                Bot.symbol == f"{currency}/USDT",
                Bot.mode == BotMode.LIVE.value,
                Bot.last_tick_at > since,
            )
            .order_by(Bot.last_tick_at.desc())
            .limit(1)
        )
    ).first()
    if row is None or not isinstance(row.state, dict):
        return None
    return row.last_tick_at, row.state.get("last_price")


async def last_usdt_rate(
    session: AsyncSession, user_id: uuid.UUID, quote: str, first_day: date
) -> Decimal | None:
    """The rate the user's latest booking in ``quote``, on ``first_day`` or after, was valued
    at, if any was."""
    rate: Decimal | None = await session.scalar(
        select(BotDay.usdt_rate)
        .where(
            BotDay.user_id == user_id,
            BotDay.quote == quote,
            BotDay.usdt_rate.is_not(None),
            BotDay.day >= first_day,
        )
        .order_by(BotDay.day.desc())
        .limit(1)
    )
    return rate


async def bot_states(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[uuid.UUID, Any]]:
    rows = await session.execute(select(Bot.id, Bot.state).where(Bot.user_id == user_id))
    return [(row.id, row.state) for row in rows]


async def bots_with_live_buys(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(Order.bot_id)
        .where(
            Order.user_id == user_id,
            Order.side == Side.BUY.value,
            Order.status.in_(NON_TERMINAL_STATUSES),
        )
        .distinct()
    )
    return set(rows.all())


async def bots_with_unseen_buys(session: AsyncSession, user_id: uuid.UUID) -> set[uuid.UUID]:
    """Bots with a buy fill their strategy has not absorbed yet (not in their ledger so far)."""
    rows = await session.scalars(
        select(StrategyInboxEntry.bot_id)
        .join(Fill, Fill.id == StrategyInboxEntry.fill_id)
        .join(Bot, Bot.id == StrategyInboxEntry.bot_id)
        .where(Bot.user_id == user_id, Fill.side == Side.BUY.value)
        .distinct()
    )
    return set(rows.all())


@dataclass(frozen=True, slots=True)
class Booking:
    """Realised P&L of one bot to add to its row of ``day``: ``amount`` in ``quote``, its
    ``value`` for the daily loss, and the rate it was valued at (None: none known)."""

    day: date
    quote: str
    amount: Decimal
    value: BookedValue
    usdt_rate: Decimal | None


async def book_realized(
    session: AsyncSession, bot_id: uuid.UUID, user_id: uuid.UUID, booking: Booking
) -> None:
    """Add ``booking`` to what the bot booked on its day. Only the bot's own step writes its
    row, under the bot row's lock, so read-then-write is safe here."""
    row = await session.get(BotDay, (bot_id, booking.day), populate_existing=True)
    if row is None:
        row = BotDay(
            bot_id=bot_id,
            day=booking.day,
            user_id=user_id,
            quote=booking.quote,
            realized_pnl=booking.amount,
            realized_usdt=booking.value.usdt,
            unvalued_pnl=booking.value.unvalued,
            usdt_rate=booking.usdt_rate,
        )
        session.add(row)
        await session.flush()  # the next booking of this transaction finds the row
        return
    row.realized_pnl = row.realized_pnl + booking.amount
    row.realized_usdt = row.realized_usdt + booking.value.usdt
    row.unvalued_pnl = row.unvalued_pnl + booking.value.unvalued
    if booking.usdt_rate is not None:
        row.usdt_rate = booking.usdt_rate


async def note_limit_reached(
    session: AsyncSession, user_id: uuid.UUID, day: date, limit_name: str, at: datetime
) -> bool:
    """Remember that ``limit_name`` refused an entry on ``day``; True the first time only."""
    values = {"user_id": user_id, "day": day, "limit_name": limit_name, "created_at": at}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(AccountLimitNotice).values(**values).on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))
