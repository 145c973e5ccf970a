"""SQL of the account overview: the user's keys, paper accounts and bots, their fills, stored
prices, and the per-day rows the history is made of. Read only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import (
    Bot,
    BotDay,
    Candle,
    ExchangeCredential,
    Fill,
    PaperAccount,
    PaperBalance,
)


async def credentials(session: AsyncSession, user_id: uuid.UUID) -> Sequence[ExchangeCredential]:
    rows = await session.scalars(
        select(ExchangeCredential)
        .where(ExchangeCredential.user_id == user_id)
        .order_by(ExchangeCredential.created_at, ExchangeCredential.id)
    )
    return rows.all()


async def paper_accounts(
    session: AsyncSession, user_id: uuid.UUID, account_ids: Sequence[uuid.UUID]
) -> Sequence[PaperAccount]:
    """The user's paper accounts among ``account_ids``."""
    if not account_ids:
        return []
    rows = await session.scalars(
        select(PaperAccount)
        .where(PaperAccount.user_id == user_id, PaperAccount.id.in_(account_ids))
        .order_by(PaperAccount.created_at, PaperAccount.id)
    )
    return rows.all()


async def paper_balances(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> Sequence[PaperBalance]:
    if not account_ids:
        return []
    rows = await session.scalars(
        select(PaperBalance)
        .where(PaperBalance.account_id.in_(account_ids))
        .order_by(PaperBalance.account_id, PaperBalance.currency)
    )
    return rows.all()


async def bots(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Bot]:
    rows = await session.scalars(
        select(Bot).where(Bot.user_id == user_id).order_by(Bot.created_at, Bot.id)
    )
    return rows.all()


async def fills(session: AsyncSession, bot_ids: Sequence[uuid.UUID]) -> Sequence[Fill]:
    """The bots' fills, each bot's oldest first."""
    if not bot_ids:
        return []
    rows = await session.scalars(
        select(Fill).where(Fill.bot_id.in_(bot_ids)).order_by(Fill.bot_id, Fill.ts, Fill.trade_id)
    )
    return rows.all()


async def fill_times_since(
    session: AsyncSession, bot_ids: Sequence[uuid.UUID], since: datetime
) -> Sequence[datetime]:
    if not bot_ids:
        return []
    rows = await session.scalars(select(Fill.ts).where(Fill.bot_id.in_(bot_ids), Fill.ts >= since))
    return rows.all()


async def booked_since(session: AsyncSession, user_id: uuid.UUID, since: date) -> Sequence[BotDay]:
    rows = await session.scalars(
        select(BotDay).where(BotDay.user_id == user_id, BotDay.day >= since)
    )
    return rows.all()


async def candle_close(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    *,
    opened_before: datetime,
    timeframe: str | None = None,
) -> tuple[datetime, Decimal] | None:
    """The newest stored candle of ``symbol`` opened at or before ``opened_before`` (of
    ``timeframe``, else of any): its open time and close."""
    query = select(Candle.ts, Candle.close).where(
        Candle.exchange == exchange, Candle.symbol == symbol, Candle.ts <= opened_before
    )
    if timeframe is not None:
        query = query.where(Candle.timeframe == timeframe)
    row = (await session.execute(query.order_by(Candle.ts.desc()).limit(1))).first()
    return None if row is None else (row.ts, row.close)
