"""SQL for ``bot_metrics``: idempotent inserts, and the series bucketed by time.

Bucketing returns, for each bucket, the last sample in it (equity and P&L are levels, not flows:
the value at the bucket's end is what a chart shows). TimescaleDB does it with ``time_bucket`` and
``last()``; elsewhere a window function over an epoch-seconds bucket does the same, on PostgreSQL
and SQLite alike. Buckets are aligned on the Unix epoch in both (``time_bucket``'s default origin,
2000-01-03, is a whole number of days after it, and intervals are at most a day).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, cast, func, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.market_data.timeframes import ms_to_datetime
from autogrid.models import Bot, BotMetric


@dataclass(frozen=True, slots=True)
class MetricPoint:
    ts: datetime  # the bucket's start
    equity: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    position: Decimal
    price: Decimal | None


async def insert_ignoring_duplicates(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> int:
    """Insert samples; one already stored for the same (bot, ts) slot is kept as it is."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(BotMetric).values(list(rows)).on_conflict_do_nothing()
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


async def timescale_installed(session: AsyncSession) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return False
    found = await session.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))
    return found is not None


def _epoch_bucket(dialect: str, seconds: int) -> Any:
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", BotMetric.ts) / seconds) * seconds, Integer)
    # SQLite keeps the UTC time as text; strftime('%s') reads it as UTC epoch seconds.
    return (cast(func.strftime("%s", BotMetric.ts), Integer) // seconds) * seconds


async def bucketed(
    session: AsyncSession,
    bot_id: uuid.UUID,
    seconds: int,
    since: datetime,
    until: datetime,
    limit: int,
    *,
    use_timescale: bool | None = None,
) -> list[MetricPoint]:
    if use_timescale is None:
        use_timescale = await timescale_installed(session)
    window = (BotMetric.bot_id == bot_id, BotMetric.ts >= since, BotMetric.ts < until)
    if use_timescale:
        query = _timescale_buckets(window, seconds)
    else:
        query = _ranked_buckets(window, _epoch_bucket(session.get_bind().dialect.name, seconds))
    rows = (await session.execute(query.limit(limit))).all()
    return [_point(row) for row in rows]


def _timescale_buckets(window: tuple[ColumnElement[bool], ...], seconds: int) -> Select[Any]:
    """Each bucket's last row, by TimescaleDB's ``time_bucket`` and ``last``."""
    bucket = func.time_bucket(func.make_interval(0, 0, 0, 0, 0, 0, seconds), BotMetric.ts)

    def last(column: Any) -> Any:
        return func.last(column, BotMetric.ts)

    return (
        select(
            cast(func.extract("epoch", bucket), Integer).label("bucket"),
            last(BotMetric.equity).label("equity"),
            last(BotMetric.realized_pnl).label("realized_pnl"),
            last(BotMetric.unrealized_pnl).label("unrealized_pnl"),
            last(BotMetric.position).label("position"),
            last(BotMetric.price).label("price"),
        )
        .where(*window)
        .group_by(literal_column("1"))
        .order_by(literal_column("1"))
    )


def _ranked_buckets(
    window: tuple[ColumnElement[bool], ...], bucket: ColumnElement[Any]
) -> Select[Any]:
    """Each bucket's last row, by a window function (plain PostgreSQL and SQLite)."""
    ranked = (
        select(
            bucket.label("bucket"),
            BotMetric.equity,
            BotMetric.realized_pnl,
            BotMetric.unrealized_pnl,
            BotMetric.position,
            BotMetric.price,
            func.row_number().over(partition_by=bucket, order_by=BotMetric.ts.desc()).label("rank"),
        )
        .where(*window)
        .subquery()
    )
    return (
        select(
            ranked.c.bucket,
            ranked.c.equity,
            ranked.c.realized_pnl,
            ranked.c.unrealized_pnl,
            ranked.c.position,
            ranked.c.price,
        )
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.bucket)
    )


def _point(row: Any) -> MetricPoint:
    return MetricPoint(
        ts=ms_to_datetime(int(row.bucket) * 1000),
        equity=row.equity,
        realized_pnl=row.realized_pnl,
        unrealized_pnl=row.unrealized_pnl,
        position=row.position,
        price=row.price,
    )


async def bots_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(Bot.status, func.count()).group_by(Bot.status))
    return {status: int(count) for status, count in rows.all()}


def add_metric(session: AsyncSession, metric: BotMetric) -> None:
    session.add(metric)
