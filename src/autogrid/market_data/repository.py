"""SQL reading the ``ohlcv`` table: range reads, bounds, counts and a numpy loader.

Writing candles (idempotent bulk upserts) is in candle_upserts.py. Nothing here commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import ColumnElement, String, and_, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import QueuePool

from autogrid.exchanges.types import CandleData
from autogrid.market_data.binary_copy import candle_arrays_from_copy
from autogrid.market_data.numeric_copy import numeric_candle_arrays
from autogrid.market_data.timeframes import datetime_to_ms, parse_timeframe
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


# A range this long is loaded in parts at once (``load_arrays_in_parts``); a shorter one loads
# in well under a second by one COPY (about 70 days of 1m candles).
SPLIT_MIN_CANDLES = 100_000
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
_COLUMNS = ("ts_ms", "open", "high", "low", "close", "volume")


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
    (``candle_upserts``) but one only adding candles after the series' last, and the open times
    of the first and last candle with ``start <= ts < end``, which see those new candles where
    they fall in the range (and rows removed or added outside that writer).

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
    return await _copy_arrays(driver, (exchange, symbol, timeframe, start, end))


def split_range(start: datetime, end: datetime, parts: int) -> list[datetime]:
    """The ``parts + 1`` edges of ``parts`` consecutive ranges covering ``start <= ts < end``:
    ``start`` first, ``end`` last, widths within a microsecond of each other (for ``start <=
    end``), so ranges loaded at once take about as long each."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return [start + (end - start) * at // parts for at in range(parts)] + [end]


async def load_arrays_in_parts(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    parts: int = 2,
) -> CandleArrays:
    """``load_arrays`` of a long range, by ``parts`` COPYs at once on connections of their own
    (the session's engine's), all reading one snapshot (``pg_export_snapshot``, as pg_dump's
    parallel jobs do): the server scans and sends the parts in parallel, and the candles are
    still those of one moment. A year of 1m candles loads in about half the wall time on two
    cores. Committed candles only: the session's own uncommitted writes are not seen (its
    callers load ranges others wrote). SQLite, or a range of fewer than ``SPLIT_MIN_CANDLES``
    candles: ``load_arrays``."""
    engine = session.bind
    step = parse_timeframe(timeframe).ms
    if (
        parts < 2
        or not isinstance(engine, AsyncEngine)
        or engine.dialect.name != "postgresql"
        or (end - start) // timedelta(milliseconds=step) < SPLIT_MIN_CANDLES
        or _free_connections(engine, parts) < parts
    ):
        return await load_arrays(session, exchange, symbol, timeframe, start, end)
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("naive datetimes are refused; pass an aware UTC datetime")
    edges = split_range(start, end, parts)
    async with contextlib.AsyncExitStack() as stack:
        drivers: list[Any] = []
        for _ in range(parts):
            connection = await stack.enter_async_context(engine.connect())
            drivers.append((await connection.get_raw_connection()).driver_connection)
        snapshot = ""
        for driver in drivers:  # each committed (read only) or rolled back on the way out
            await stack.enter_async_context(
                driver.transaction(isolation="repeatable_read", readonly=True)
            )
            if not snapshot:
                snapshot = await driver.fetchval("SELECT pg_export_snapshot()")
                if not _SNAPSHOT_ID.fullmatch(snapshot):
                    raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
            else:  # a statement with no parameters: the id is the server's own, checked above
                await driver.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        loaded = await asyncio.gather(
            *(
                _copy_arrays(driver, (exchange, symbol, timeframe, first, after))
                for driver, first, after in zip(drivers, edges, edges[1:], strict=False)
            )
        )
    return CandleArrays(
        *(np.concatenate([getattr(part, name) for part in loaded]) for name in _COLUMNS)
    )


def spare_connections(session: AsyncSession) -> int:
    """How many loads at once (``load_arrays_apart``) the session's engine can take beside the
    session's own: none on SQLite (one file, one writer: nothing to gain)."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
        return 0
    return max(0, _free_connections(engine, 1))


async def load_arrays_apart(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
) -> CandleArrays:
    """``load_arrays`` on a connection of its own from the session's engine, to load beside the
    session (``spare_connections``); committed candles only."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine):
        raise TypeError("a session bound to an async engine loads apart")
    async with AsyncSession(engine) as own:
        return await load_arrays(own, exchange, symbol, timeframe, start, end)


def _free_connections(engine: AsyncEngine, wanted: int) -> int:
    """How many more connections the engine's pool can give at once (``wanted`` if it has no
    bound): a small pool, its connections taken, would otherwise keep the parts waiting."""
    pool = engine.pool
    if isinstance(pool, QueuePool) and pool._max_overflow >= 0:  # -1: no bound
        return pool.size() + pool._max_overflow - pool.checkedout()
    return wanted


# Series whose values this process could not read fast (more digits than a double holds, see
# ``numeric_copy``): later loads of them ask the server to cast at once, instead of reading the
# values first only to read them again (a sweep's pieces, each backtest). Only ever slower to
# read than needed, never other values: the server's cast and the client's are the same bits.
_SERVER_CASTS: set[tuple[Any, ...]] = set()
SERVER_CASTS_BOUND = 1024


def forget_server_casts() -> None:
    """Read every series the fast way first again (tests start from a new process's state)."""
    _SERVER_CASTS.clear()


async def _copy_arrays(driver: Any, bounds: tuple[Any, ...]) -> CandleArrays:
    series = bounds[:3]
    if series not in _SERVER_CASTS:
        arrays = numeric_candle_arrays(await _copy(driver, _PG_NUMERIC_VALUES, bounds))
        if arrays is not None:
            return arrays
        if len(_SERVER_CASTS) >= SERVER_CASTS_BOUND:
            _SERVER_CASTS.clear()
        _SERVER_CASTS.add(series)
    return candle_arrays_from_copy(await _copy(driver, _PG_FLOAT_VALUES, bounds))


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
