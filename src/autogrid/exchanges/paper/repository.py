"""SQL for the paper exchange's tables (and its reads of stored candles). Nothing here commits.

``lock_account`` serialises every state change of one account: ``SELECT ... FOR UPDATE`` on
PostgreSQL. SQLite has no row locks; there the first statement of the transaction is a write to
the account row, which takes the database's single write lock at once (waiting up to the busy
timeout), so the reads that follow cannot go stale before the transaction writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.sqltypes import utcnow
from autogrid.exchanges.types import CandleData, ExchangeOrderStatus
from autogrid.models.candle import Candle
from autogrid.models.paper import PaperAccount, PaperBalance, PaperOrder, PaperTrade

_OPEN = ExchangeOrderStatus.OPEN.value


async def read_account(session: AsyncSession, account_id: uuid.UUID) -> PaperAccount | None:
    return await session.get(PaperAccount, account_id)


async def lock_account(session: AsyncSession, account_id: uuid.UUID) -> PaperAccount | None:
    """The account row, locked until the transaction ends; None if there is no such account."""
    if session.get_bind().dialect.name == "sqlite":
        await session.execute(
            update(PaperAccount)
            .where(PaperAccount.id == account_id)
            .values(updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    result = await session.execute(
        select(PaperAccount)
        .where(PaperAccount.id == account_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def open_order_symbols(session: AsyncSession, account_id: uuid.UUID) -> set[str]:
    rows = await session.scalars(
        select(PaperOrder.symbol)
        .where(PaperOrder.account_id == account_id, PaperOrder.status == _OPEN)
        .distinct()
    )
    return set(rows)


async def load_balances(session: AsyncSession, account_id: uuid.UUID) -> dict[str, PaperBalance]:
    rows = await session.scalars(select(PaperBalance).where(PaperBalance.account_id == account_id))
    return {row.currency: row for row in rows}


def store_balances(
    session: AsyncSession,
    account_id: uuid.UUID,
    rows: Mapping[str, PaperBalance],
    values: Mapping[str, tuple[Decimal, Decimal]],
) -> None:
    """Write (free, locked) per currency onto the loaded rows, adding rows for new currencies."""
    for currency, (free, locked) in values.items():
        row = rows.get(currency)
        if row is None:
            session.add(
                PaperBalance(account_id=account_id, currency=currency, free=free, locked=locked)
            )
        else:
            row.free, row.locked = free, locked


async def open_orders(
    session: AsyncSession, account_id: uuid.UUID, symbol: str | None = None
) -> list[PaperOrder]:
    """Open orders in placement order (the order ties are broken in)."""
    query = select(PaperOrder).where(
        PaperOrder.account_id == account_id, PaperOrder.status == _OPEN
    )
    if symbol is not None:
        query = query.where(PaperOrder.symbol == symbol)
    return list(await session.scalars(query.order_by(PaperOrder.id)))


async def find_order(
    session: AsyncSession,
    account_id: uuid.UUID,
    symbol: str,
    *,
    exchange_order_id: str | None = None,
    client_order_id: str | None = None,
    open_only: bool = False,
) -> PaperOrder | None:
    """By exchange id, else the newest order with the client id (ids are reused once closed)."""
    conditions = [PaperOrder.account_id == account_id, PaperOrder.symbol == symbol]
    if exchange_order_id is not None:
        conditions.append(PaperOrder.exchange_order_id == exchange_order_id)
    elif client_order_id is not None:
        conditions.append(PaperOrder.client_order_id == client_order_id)
    else:
        raise ValueError("give exchange_order_id or client_order_id")
    if open_only:
        conditions.append(PaperOrder.status == _OPEN)
    query = select(PaperOrder).where(*conditions).order_by(PaperOrder.id.desc()).limit(1)
    return (await session.scalars(query)).first()


async def client_id_in_use(session: AsyncSession, account_id: uuid.UUID, client_id: str) -> bool:
    """Whether an OPEN order of the account (any symbol) already carries ``client_id``."""
    found = await session.scalar(
        select(PaperOrder.id)
        .where(
            PaperOrder.account_id == account_id,
            PaperOrder.client_order_id == client_id,
            PaperOrder.status == _OPEN,
        )
        .limit(1)
    )
    return found is not None


async def add_order(session: AsyncSession, order: PaperOrder) -> PaperOrder:
    session.add(order)
    await session.flush()  # assigns the id, which is also the matching sequence
    return order


def add_trades(session: AsyncSession, trades: Sequence[PaperTrade]) -> None:
    session.add_all(trades)


async def trades(
    session: AsyncSession,
    account_id: uuid.UUID,
    symbol: str,
    since: datetime | None,
    limit: int,
) -> list[tuple[PaperTrade, PaperOrder]]:
    """Oldest first: from ``since`` on, or (like Binance without a start) the latest ``limit``."""
    conditions = [PaperTrade.account_id == account_id, PaperOrder.symbol == symbol]
    if since is not None:
        conditions.append(PaperTrade.ts >= since)
    newest_first = since is None
    order = (
        (PaperTrade.ts.desc(), PaperTrade.id.desc())
        if newest_first
        else (PaperTrade.ts, PaperTrade.id)
    )
    rows = await session.execute(
        select(PaperTrade, PaperOrder)
        .join(PaperOrder, PaperOrder.id == PaperTrade.order_id)
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
    )
    found = [(trade, paper_order) for trade, paper_order in rows]
    return found[::-1] if newest_first else found


async def order_trades(
    session: AsyncSession, account_id: uuid.UUID, symbol: str, exchange_order_id: str
) -> list[tuple[PaperTrade, PaperOrder]]:
    """One order's trades, oldest first."""
    rows = await session.execute(
        select(PaperTrade, PaperOrder)
        .join(PaperOrder, PaperOrder.id == PaperTrade.order_id)
        .where(
            PaperOrder.account_id == account_id,
            PaperOrder.symbol == symbol,
            PaperOrder.exchange_order_id == exchange_order_id,
        )
        .order_by(PaperTrade.ts, PaperTrade.id)
    )
    return [(trade, paper_order) for trade, paper_order in rows]


async def latest_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    opened_before: datetime,
    limit: int,
) -> list[CandleData]:
    """The newest ``limit`` stored candles opened before ``opened_before``, oldest first.

    (The market data repository reads ranges forward from a start; a replay needs the candles
    just before its clock, however far back a gap pushed them.)
    """
    rows = await session.execute(
        select(Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(
            and_(
                Candle.exchange == exchange,
                Candle.symbol == symbol,
                Candle.timeframe == timeframe,
                Candle.ts < opened_before,
            )
        )
        .order_by(Candle.ts.desc())
        .limit(limit)
    )
    return [CandleData(*row) for row in reversed(rows.all())]
