"""The PostgreSQL candle loader returns what the query it replaced returned, to the bit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.market_data import repository
from autogrid.market_data.repository import VALUE_COLUMNS, load_arrays
from autogrid.market_data.service import import_candle_file
from autogrid.models.candle import Candle
from autogrid.trading.candles import CandleArrays

START = datetime(2025, 5, 20, tzinfo=UTC)  # the first real 1m candle
# The loader before the binary COPY: six sorted aggregates, the casts done by the server.
REFERENCE = text(
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


async def reference_arrays(
    session: AsyncSession,
    exchange: str,
    symbol: str,
    timeframe: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> CandleArrays:
    params = {"exchange": exchange, "symbol": symbol, "timeframe": timeframe}
    row = (await session.execute(REFERENCE, {**params, "start": start, "end": end})).one()
    if row[0] is None:
        return CandleArrays.empty()
    return CandleArrays(
        np.array(row[0], dtype=np.int64), *(np.array(c, dtype=np.float64) for c in row[1:])
    )


def assert_identical(loaded: CandleArrays, reference: CandleArrays) -> None:
    for name in ("ts_ms", *VALUE_COLUMNS):
        got, expected = getattr(loaded, name), getattr(reference, name)
        assert got.dtype == expected.dtype and got.shape == expected.shape, name
        assert got.flags.c_contiguous and got.flags.writeable, name
        assert got.tobytes() == expected.tobytes(), name  # bit for bit, in the same order


async def assert_loads_as_reference(
    session: AsyncSession, series: tuple[str, str, str], ranges: list[tuple[datetime | None, ...]]
) -> None:
    for start, end in ranges:
        loaded = await load_arrays(session, *series, start, end)
        assert_identical(loaded, await reference_arrays(session, *series, start, end))


async def test_real_candles_load_as_the_sorted_aggregates_did(
    db: Database, btc_1m_5000: Path
) -> None:
    series = ("binance", "BTC/USDT", "1m")
    async with db.session_scope() as session:
        await import_candle_file(
            session, btc_1m_5000, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    ranges: list[tuple[datetime | None, ...]] = [
        (None, None),
        (START + timedelta(minutes=17), START + timedelta(days=2, seconds=30)),
        (START + timedelta(hours=50), None),
        (None, START + timedelta(minutes=3)),
        (START + timedelta(days=30), None),  # past the last candle: empty
        (START, START),  # an empty range
    ]

    async with db.session_scope() as session:
        await assert_loads_as_reference(session, series, ranges)
        unknown = await load_arrays(session, "binance", "DOGE/USDT", "1m")
        total = await load_arrays(session, *series)

    assert len(unknown) == 0 and unknown.open.dtype == np.float64
    assert len(total) == 5000


async def test_awkward_times_and_values_load_as_the_sorted_aggregates_did(db: Database) -> None:
    """Sub-millisecond open times (halves round away from the Unix epoch, before it too), the
    widest and the finest NUMERIC(38, 18) values, negatives and zero, inserted out of order."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    offsets_us = [1500, 500, 499, 501, -500, -501, -1500, -1499, 0, 86_400_000_123]
    times = [epoch + timedelta(microseconds=us) for us in offsets_us]
    times += [  # the ends of Python's range (not datetime.min: asyncpg sends it as -infinity)
        datetime(1, 1, 2, 0, 0, 0, 500, UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_500, UTC),
    ]
    values = [
        Decimal("99999999999999999999.999999999999999999"),
        Decimal("0.000000000000000001"),
        Decimal("-105597.1"),
        Decimal("0"),
        Decimal("0.1"),
        Decimal("12345678901234567.890123456789012345"),
        Decimal("-0.000000000000000005"),
    ]
    rows = [
        {
            "exchange": "edge",
            "symbol": "X/Y",
            "timeframe": "1m",
            "ts": moment,
            **{name: values[(i + j) % len(values)] for j, name in enumerate(VALUE_COLUMNS)},
        }
        for i, moment in enumerate(times)
    ]
    async with db.session_scope() as session:
        await session.execute(insert(Candle), rows)
    ranges: list[tuple[datetime | None, ...]] = [
        (None, None),
        (epoch - timedelta(microseconds=500), epoch + timedelta(microseconds=501)),
        (epoch, None),
        (None, epoch),
    ]

    async with db.session_scope() as session:
        await assert_loads_as_reference(session, ("edge", "X/Y", "1m"), ranges)
        total = await load_arrays(session, "edge", "X/Y", "1m")

    assert len(total) == len(times)


async def test_no_candle_column_can_be_null(db: Database) -> None:
    """The loader's fixed-width rows rely on it (and refuse a NULL rather than misread one)."""
    async with db.session_scope() as session:
        nullable = await session.scalars(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'ohlcv' AND is_nullable = 'YES'"
            )
        )
        assert nullable.all() == []


@pytest.mark.parametrize("bound", ["start", "end"])
async def test_naive_bounds_are_refused(db: Database, bound: str) -> None:
    naive = {bound: datetime(2025, 5, 20)}  # naive: the point of the test
    async with db.session_scope() as session:
        with pytest.raises(ValueError, match="naive"):
            await load_arrays(session, "binance", "BTC/USDT", "1m", **naive)


async def test_a_few_long_values_among_real_candles_load_as_the_server_casts_them(
    db: Database, btc_1m_5000: Path
) -> None:
    """Values with more digits than a double holds, read one by one by the client (a few) or
    cast by the server (many), and a row-start look-alike inside a value, which makes the
    client leave the whole range to the server."""
    series = ("binance", "BTC/USDT", "1m")
    async with db.session_scope() as session:
        await import_candle_file(
            session, btc_1m_5000, exchange="binance", symbol="BTC/USDT", timeframe="1m"
        )
    long = text(
        "UPDATE ohlcv SET high = 99999999999999999999.999999999999999999,"
        " volume = 0.123456789012345678 WHERE ts = :ts"
    )
    look_alike = text("UPDATE ohlcv SET volume = 6.00000008 WHERE ts = :ts")

    for changed in (long, look_alike):
        async with db.session_scope() as session:
            await session.execute(changed, {"ts": START + timedelta(minutes=1234)})
            await assert_loads_as_reference(session, series, [(None, None)])
    async with db.session_scope() as session:
        await session.execute(text("UPDATE ohlcv SET low = 1234567890.123456789"))
        await assert_loads_as_reference(session, series, [(None, None)])


async def test_a_series_the_client_cannot_read_fast_is_cast_by_the_server_from_then_on(
    db: Database, btc_1m_5000: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its values read once and thrown away, then never again in this process: the next load
    asks the server to cast at once. Another series is still read the fast way."""
    for symbol in ("BTC/USDT", "ETH/USDT"):
        async with db.session_scope() as session:
            await import_candle_file(
                session, btc_1m_5000, exchange="binance", symbol=symbol, timeframe="1m"
            )
    async with db.session_scope() as session:
        await session.execute(
            text("UPDATE ohlcv SET low = 1234567890.123456789 WHERE symbol = 'BTC/USDT'")
        )
    queries: list[str] = []
    copy = repository._copy

    async def recorded(driver: Any, query: str, bounds: tuple[Any, ...]) -> bytes:
        queries.append(query)
        return await copy(driver, query, bounds)

    monkeypatch.setattr(repository, "_copy", recorded)
    async with db.session_scope() as session:
        for symbol in ("BTC/USDT", "BTC/USDT", "ETH/USDT"):
            await assert_loads_as_reference(session, ("binance", symbol, "1m"), [(None, None)])

    numeric, cast = repository._PG_NUMERIC_VALUES, repository._PG_FLOAT_VALUES
    assert queries == [numeric, cast, cast, numeric]
