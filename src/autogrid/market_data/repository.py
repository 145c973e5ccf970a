"""SQL reading the ``ohlcv`` table: range reads, bounds, counts and a numpy loader.

Writing candles (idempotent bulk upserts) is in candle_upserts.py. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, String, and_, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.exchanges.types import CandleData
from autogrid.market_data.binary_copy import candle_arrays_from_copy
from autogrid.market_data.numeric_copy import numeric_candle_arrays
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.models.candle import Candle, CandleSeriesVersion
from autogrid.trading.candles import CandleArrays

VALUE_COLUMNS = ("open", "high", "low", "close", "volume")
# One scan in the primary key's order (no sort), streamed as binary rows. The bounds reach COPY
# as literals, so a missing one folds to an infinity and the index range stays. The values go
# as stored (NUMERIC), turned into floats by the client (``numeric_copy``): the server's own
# cast cost it four times the scan. Cast by the server (its NUMERIC-to-float8 conversion is
# correctly rounded, as the client's) when the client cannot read them fast.
_PG_COPY_CANDLES = """
    SELECT ts, {values}
    FROM ohlcv
    WHERE exchange = $1 AND symbol = $2 AND timeframe = $3
      AND ts >= COALESCE($4::timestamptz, '-infinity')
      AND ts < COALESCE($5::timestamptz, 'infinity')
    ORDER BY ts
"""
_PG_NUMERIC_VALUES = _PG_COPY_CANDLES.format(values=", ".join(VALUE_COLUMNS))
_PG_FLOAT_VALUES = _PG_COPY_CANDLES.format(
    values=", ".join(f"CAST({name} AS float8)" for name in VALUE_COLUMNS)
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


class RangeVersion(NamedTuple):
    """A version of a range's candles (``range_version``): equal versions, equal candles."""

    first: datetime | None  # open time of the range's first candle, None if it has none
    last: datetime | None
    writes: int = 0  # the series' write counter (``CandleSeriesVersion``), 0 before any


async def range_version(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> RangeVersion:
    """The range's version, in one round trip of three index lookups whatever its size: the
    series' write counter, which every write of its candles bumps in its own transaction
    (``candle_upserts``), and the open times of the first and last candle with
    ``start <= ts < end``, which also see rows removed or added outside that writer.

    Read it *before* the candles it versions: candles read later are then at least as new as
    the version says (a write commits its candles and its bump together), never older."""
    # ORDER BY ... LIMIT 1 reads one index entry each; min()/max() scanned the whole range when
    # the planner's statistics were stale (right after an import).
    in_range = select(Candle.ts).where(
        series_filter(exchange, symbol, timeframe), *_time_range(start, end)
    )
    first = in_range.order_by(Candle.ts).limit(1).scalar_subquery()
    last = in_range.order_by(Candle.ts.desc()).limit(1).scalar_subquery()
    writes = (
        select(CandleSeriesVersion.writes)
        .where(
            CandleSeriesVersion.exchange == exchange,
            CandleSeriesVersion.symbol == symbol,
            CandleSeriesVersion.timeframe == timeframe,
        )
        .scalar_subquery()
    )
    row = (await session.execute(select(first, last, writes))).one()
    return RangeVersion(row[0], row[1], int(row[2] or 0))


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
        return await _load_arrays_by_copy(session, exchange, symbol, timeframe, start, end)
    return await _load_arrays_as_text(session, exchange, symbol, timeframe, start, end)


async def _load_arrays_by_copy(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None,
    end: datetime | None,
) -> CandleArrays:
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection  # asyncpg
    bounds = (exchange, symbol, timeframe, start, end)
    arrays = numeric_candle_arrays(await _copy(driver, _PG_NUMERIC_VALUES, bounds))
    if arrays is None:  # values the client does not read fast (see numeric_copy)
        arrays = candle_arrays_from_copy(await _copy(driver, _PG_FLOAT_VALUES, bounds))
    return arrays


async def _copy(driver: Any, query: str, bounds: tuple[Any, ...]) -> bytes:
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(chunk)

    # COPY takes no parameters: asyncpg has the server quote them into the query text first.
    await driver.copy_from_query(query, *bounds, output=keep, format="binary")
    return b"".join(chunks)


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
