"""SQL reading the ``ohlcv`` table: range reads, bounds, counts and a numpy loader.

Writing candles (idempotent bulk upserts) is in candle_upserts.py. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, String, and_, func, select, text, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges.types import CandleData
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.models.candle import Candle
from autogrid.trading.candles import CandleArrays

VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
_PG_LOAD_ARRAYS = text(
    """
    SELECT array_agg(CAST(EXTRACT(EPOCH FROM ts) * 1000 AS BIGINT) ORDER BY ts),
           array_agg(CAST(open AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(high AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(low AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(close AS DOUBLE PRECISION) ORDER BY ts),
           array_agg(CAST(volume AS DOUBLE PRECISION) ORDER BY ts)
    FROM ohlcv
    WHERE exchange = :exchange AND symbol = :symbol AND timeframe = :timeframe
      AND ts >= COALESCE(CAST(:start AS TIMESTAMPTZ), '-infinity')
      AND ts < COALESCE(CAST(:end AS TIMESTAMPTZ), 'infinity')
    """
)


def series_filter(exchange: str, symbol: str, timeframe: str) -> ColumnElement[bool]:
    return and_(Candle.exchange == exchange, Candle.symbol == symbol, Candle.timeframe == timeframe)


def _time_range(start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(Candle.ts >= start)
    if end is not None:
        conditions.append(Candle.ts < end)
    return conditions


async def fetch_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    limit: int = 1000,
) -> list[CandleData]:
    """Candles with ``start <= ts < end``, oldest first, at most ``limit`` of them."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    rows = await session.execute(
        select(Candle.ts, Candle.open, Candle.high, Candle.low, Candle.close, Candle.volume)
        .where(series_filter(exchange, symbol, timeframe), *_time_range(start, end))
        .order_by(Candle.ts)
        .limit(limit)
    )
    return [CandleData(*row) for row in rows]


async def latest_ts(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> datetime | None:
    """Open time of the newest stored candle, ``None`` when the series is empty."""
    return await session.scalar(
        select(func.max(Candle.ts)).where(series_filter(exchange, symbol, timeframe))
    )


async def earliest_ts(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> datetime | None:
    return await session.scalar(
        select(func.min(Candle.ts)).where(series_filter(exchange, symbol, timeframe))
    )


async def series_bounds(
    session: AsyncSession, exchange: str, symbol: str, timeframe: str
) -> tuple[datetime, datetime] | None:
    """Open times of the first and the last stored candle of a series, None when it is empty."""
    row = (
        await session.execute(
            select(func.min(Candle.ts), func.max(Candle.ts)).where(
                series_filter(exchange, symbol, timeframe)
            )
        )
    ).one()
    return None if row[0] is None else (row[0], row[1])


async def stored_timeframes(session: AsyncSession, exchange: str, symbol: str) -> list[str]:
    """The timeframes with candles stored for ``exchange`` ``symbol``, by name."""
    rows = await session.scalars(
        select(Candle.timeframe)
        .where(Candle.exchange == exchange, Candle.symbol == symbol)
        .distinct()
        .order_by(Candle.timeframe)
    )
    return list(rows.all())


async def count_candles(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Candle)
        .where(series_filter(exchange, symbol, timeframe), *_time_range(start, end))
    )
    return int(count or 0)


async def range_version(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[datetime | None, datetime | None]:
    """Open times of the first and last candle with ``start <= ts < end`` (None, None if none):
    two index lookups, whatever the range's size, that change when candles are added or removed
    at either end of the range."""
    # ORDER BY ... LIMIT 1 reads one index entry each; min()/max() scanned the whole range when
    # the planner's statistics were stale (right after an import).
    in_range = select(Candle.ts).where(
        series_filter(exchange, symbol, timeframe), *_time_range(start, end)
    )
    first = in_range.order_by(Candle.ts).limit(1).scalar_subquery()
    last = in_range.order_by(Candle.ts.desc()).limit(1).scalar_subquery()
    row = (await session.execute(select(first, last))).one()
    return row[0], row[1]


async def load_arrays(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CandleArrays:
    """All candles with ``start <= ts < end`` as float64/int64 columns, oldest first."""
    if session.get_bind().dialect.name == "postgresql":
        for moment in (start, end):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("naive datetimes are refused; pass an aware UTC datetime")
        # One row of six arrays: the database converts NUMERIC to float8 (correctly rounded), and
        # no per-row Python objects are built on the way.
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "timeframe": timeframe,
            "start": start,
            "end": end,
        }
        row = (await session.execute(_PG_LOAD_ARRAYS, params)).one()
        if row[0] is None:
            return CandleArrays.empty()
        return CandleArrays(
            np.array(row[0], dtype=np.int64), *(np.array(c, dtype=np.float64) for c in row[1:])
        )
    return await _load_arrays_as_text(session, exchange, symbol, timeframe, start, end)


async def _load_arrays_as_text(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
) -> CandleArrays:
    # SQLite keeps money as exact decimal text; Python's float() rounds it correctly, which
    # SQLite's own CAST(... AS REAL) does not promise. Reading the text skips the Decimal step.
    values = [type_coerce(getattr(Candle, name), String) for name in VALUE_COLUMNS]
    rows: Sequence[Any] = (
        await session.execute(
            select(Candle.ts, *values)
            .where(series_filter(exchange, symbol, timeframe), *_time_range(start, end))
            .order_by(Candle.ts)
        )
    ).all()
    if not rows:
        return CandleArrays.empty()
    ts_ms = np.fromiter((datetime_to_ms(row[0]) for row in rows), dtype=np.int64, count=len(rows))
    columns = [
        np.fromiter((float(row[i]) for row in rows), dtype=np.float64, count=len(rows))
        for i in range(1, 6)
    ]
    return CandleArrays(ts_ms, *columns)
