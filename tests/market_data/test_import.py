"""Importing files into ohlcv and reading them back, on PostgreSQL and on SQLite alike."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import insert, select, text

from autogrid.core.db import Database
from autogrid.exchanges.types import CandleData
from autogrid.market_data import candle_upserts
from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.candle_upserts import UpsertCounts, upsert_batch, upsert_candles
from autogrid.market_data.parsers import CandleFileError, CandleReader
from autogrid.market_data.repository import (
    count_candles,
    earliest_ts,
    fetch_candles,
    latest_ts,
    load_arrays,
)
from autogrid.market_data.service import ImportReport, InvalidSeriesKey, import_candle_file
from autogrid.market_data.timeframes import (
    InvalidTimeframe,
    datetime_to_ms,
    ms_to_datetime,
    parse_timeframe,
)
from autogrid.models.candle import Candle, CandleSeriesVersion
from tests.market_data.conftest import BTC_1H, BTC_1M, head_lines, shared_file, write_gz

SERIES = ("binance", "BTC/USDT", "1m")
START = datetime(2025, 5, 20, tzinfo=UTC)  # the first real 1m candle


async def import_file(
    database: Database,
    path: Path,
    *,
    symbol: str = "BTC/USDT",
    timeframe: str = "1m",
    **options: int,
) -> ImportReport:
    async with database.session_scope() as session:
        return await import_candle_file(
            session, path, exchange="binance", symbol=symbol, timeframe=timeframe, **options
        )


async def stored_count(database: Database, symbol: str = "BTC/USDT") -> int:
    async with database.session_scope() as session:
        return await count_candles(session, "binance", symbol, "1m")


def counts(report: ImportReport) -> tuple[int, int, int]:
    return report.inserted, report.updated, report.unchanged


async def test_reimporting_a_file_changes_nothing(database: Database, btc_1m_5000: Path) -> None:
    first = await import_file(database, btc_1m_5000)
    async with database.session_scope() as session:
        before = await fetch_candles(session, *SERIES, limit=5000)

    again = await import_file(database, btc_1m_5000)

    assert (first.rows_read, counts(first)) == (5000, (5000, 0, 0))
    assert (again.rows_read, counts(again)) == (5000, (0, 0, 5000))
    async with database.session_scope() as session:
        assert await fetch_candles(session, *SERIES, limit=5000) == before
    assert await stored_count(database) == 5000


async def test_overlapping_files_merge(database: Database, tmp_path: Path) -> None:
    lines = head_lines(BTC_1M, 5000)
    early = write_gz(tmp_path / "early.csv.gz", lines[: 3000 + 1])
    late = write_gz(tmp_path / "late.csv.gz", [lines[0], *lines[2001:]])  # rows 2001..5000

    assert counts(await import_file(database, early)) == (3000, 0, 0)
    assert counts(await import_file(database, late)) == (2000, 0, 1000)

    assert await stored_count(database) == 5000
    async with database.session_scope() as session:
        assert await earliest_ts(session, *SERIES) == START
        assert await latest_ts(session, *SERIES) == START + timedelta(minutes=4999)


async def test_rows_that_differ_from_the_stored_ones_are_updated(
    database: Database, tmp_path: Path
) -> None:
    lines = head_lines(BTC_1M, 100)
    await import_file(database, write_gz(tmp_path / "original.csv.gz", lines))
    corrected = list(lines)
    for line_index in (5, 50, 100):  # data rows 5, 50 and 100 get a new volume
        fields = corrected[line_index].strip().split(",")
        corrected[line_index] = ",".join([*fields[:5], "123.456"]) + "\n"

    report = await import_file(database, write_gz(tmp_path / "corrected.csv.gz", corrected))

    assert counts(report) == (0, 3, 97)
    async with database.session_scope() as session:
        stored = await fetch_candles(session, *SERIES, limit=100)
    assert [c.volume for c in stored if c.volume == Decimal("123.456")] == [Decimal("123.456")] * 3
    assert stored[49].volume == Decimal("123.456")
    assert stored[0].volume == Decimal("10.82647")


async def test_decimal_values_are_stored_and_read_back_exactly(
    database: Database, tmp_path: Path
) -> None:
    lines = head_lines(BTC_1H, 24)
    # Edge of NUMERIC(38,18): 18 decimal places and 20 integer digits, both exact on both backends.
    lines.append(
        "1503028800000,0.000000000000000001,12345678901234567890.5,0.000000000000000001,1,0\n"
    )
    path = write_gz(tmp_path / "BTC_USDT-1h.csv.gz", lines)

    await import_file(database, path, timeframe="1h")

    async with database.session_scope() as session:
        stored = await fetch_candles(session, "binance", "BTC/USDT", "1h")
    first, edge = stored[0], stored[-1]
    assert first.ts == datetime(2017, 8, 17, 4, tzinfo=UTC)
    assert first.open == Decimal("4261.48")
    assert str(first.open) == "4261.48"  # not 4261.480000000000000000, nor 4261.47999999...
    assert (str(first.high), str(first.low), str(first.volume)) == (
        "4313.62",
        "4261.32",
        "47.181009",
    )
    assert str(edge.open) == "1E-18" and edge.open == Decimal("0.000000000000000001")
    assert edge.high == Decimal("12345678901234567890.5")


async def test_fetch_reads_a_half_open_range_in_order_with_a_limit(
    database: Database, btc_1m_5000: Path
) -> None:
    await import_file(database, btc_1m_5000)
    await import_file(database, btc_1m_5000, symbol="ETH/USDT")  # another series, same times
    start, end = START + timedelta(minutes=10), START + timedelta(minutes=20)

    async with database.session_scope() as session:
        window = await fetch_candles(session, *SERIES, start, end)
        limited = await fetch_candles(session, *SERIES, start, end, limit=3)
        in_range = await count_candles(session, *SERIES, start, end)
        total = await count_candles(session, *SERIES)
        nothing = await fetch_candles(session, "binance", "DOGE/USDT", "1m")
        no_latest = await latest_ts(session, "binance", "DOGE/USDT", "1m")

    assert [c.ts for c in window] == [start + timedelta(minutes=i) for i in range(10)]
    assert limited == window[:3]
    assert (in_range, total) == (10, 5000)
    assert nothing == [] and no_latest is None


async def test_load_arrays_returns_float64_columns_of_the_stored_decimals(
    database: Database, btc_1m_5000: Path
) -> None:
    await import_file(database, btc_1m_5000)
    expected = np.array(
        [[float(v) for v in line.split(",")] for line in head_lines(BTC_1M, 5000)[1:]]
    )

    async with database.session_scope() as session:
        arrays = await load_arrays(session, *SERIES)
        window = await load_arrays(
            session, *SERIES, START + timedelta(minutes=1), START + timedelta(minutes=4)
        )
        empty = await load_arrays(session, "binance", "DOGE/USDT", "1m")

    assert len(arrays) == 5000
    assert arrays.ts_ms.dtype == np.int64 and arrays.close.dtype == np.float64
    np.testing.assert_array_equal(arrays.ts_ms, expected[:, 0].astype(np.int64))
    for column, values in zip(
        ("open", "high", "low", "close", "volume"), expected[:, 1:].T, strict=True
    ):
        # Exactly equal: the text "105597.1" must become the same float64 Python's parser makes.
        np.testing.assert_array_equal(getattr(arrays, column), values)
    assert window.ts_ms.tolist() == [1747699260000, 1747699320000, 1747699380000]
    assert len(empty) == 0 and empty.open.dtype == np.float64


async def test_a_bad_row_late_in_the_file_leaves_the_table_untouched(
    database: Database, tmp_path: Path
) -> None:
    lines = head_lines(BTC_1M, 5000)
    lines[4000] = lines[4000].rsplit(",", 1)[0] + ",-1\n"  # negative volume on line 4001
    path = write_gz(tmp_path / "bad.csv.gz", lines)

    with pytest.raises(CandleFileError, match="line 4001: volume -1 is negative"):
        await import_file(database, path, batch_rows=1000)  # three batches were already written

    assert await stored_count(database) == 0


@pytest.fixture
def streamed_copies(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The candles each streamed COPY (``insert_streamed``) sent, one entry per COPY (an aborted
    one included), merges through the staging table and SQLite not counted."""
    sent: list[int] = []
    copy = candle_upserts._copy_streamed

    async def counted(*args: Any) -> candle_upserts.UpsertCounts:
        taken: list[CandleBatch] = args[2]  # the batches sent, the first one in already
        try:
            return await copy(*args)
        finally:
            sent.append(sum(map(len, taken)))

    monkeypatch.setattr(candle_upserts, "_copy_streamed", counted)
    return sent


@pytest.mark.parametrize("batch_rows", [1, 777, 5000])
async def test_an_import_streamed_step_by_step_stores_every_candle_exactly(
    db: Database, btc_1m_5000: Path, streamed_copies: list[int], batch_rows: int
) -> None:
    report = await import_file(db, btc_1m_5000, batch_rows=batch_rows)

    assert counts(report) == (5000, 0, 0)
    assert (
        report.rows_read == 5000
        and report.gaps == CandleReader(btc_1m_5000, parse_timeframe("1m")).gap_report()
    )
    async with db.session_scope() as session:
        stored = await fetch_candles(session, *SERIES, limit=10_000)
    assert stored == list(CandleReader(btc_1m_5000, parse_timeframe("1m")))
    # Each COPY carries several steps (an eighth of a batch each), never more than a batch.
    assert sum(streamed_copies) == 5000 and max(streamed_copies) <= batch_rows
    assert len(streamed_copies) == -(-5000 // batch_rows)


async def test_a_bad_row_met_while_streaming_fails_the_import_at_its_line(
    db: Database, tmp_path: Path, streamed_copies: list[int]
) -> None:
    lines = head_lines(BTC_1M, 5000)
    lines[1500] = lines[1500].rsplit(",", 1)[0] + ",-1\n"  # line 1501: the second COPY's
    path = write_gz(tmp_path / "bad.csv.gz", lines)

    with pytest.raises(CandleFileError, match="line 1501: volume -1 is negative"):
        await import_file(db, path, batch_rows=1000)

    # Met parsing the step of rows 1375-1499 (125 rows a step), the second COPY under way.
    assert streamed_copies == [1000, 375]
    assert await stored_count(db) == 0


async def test_a_stream_stops_at_a_stored_candle_and_the_rest_is_merged(
    db: Database, tmp_path: Path, streamed_copies: list[int]
) -> None:
    lines = head_lines(BTC_1M, 5000)
    # Rows 3000-3099 stored first (file lines 3002-3101, after the header).
    await import_file(db, write_gz(tmp_path / "middle.csv.gz", [lines[0], *lines[3001:3101]]))
    async with db.session_scope() as session:
        writes_before = await session.scalar(select(CandleSeriesVersion.writes))

    report = await import_file(db, write_gz(tmp_path / "all.csv.gz", lines), batch_rows=5000)

    assert counts(report) == (4900, 0, 100)
    # After the 100 stored first: streamed up to the step before the stored candles (steps of
    # 625: rows 0-2499), the rest merged (the step reaching them and those after, a batch).
    assert streamed_copies == [100, 2500]
    async with db.session_scope() as session:
        stored = await fetch_candles(session, *SERIES, limit=10_000)
        writes = await session.scalar(select(CandleSeriesVersion.writes))
    assert stored == list(CandleReader(tmp_path / "all.csv.gz", parse_timeframe("1m")))
    assert writes_before == 0  # the first candles of the series: none before them
    assert writes is not None and writes > 0  # candles written before the stored last ones


def with_row(lines: list[str], line: int, values: str) -> list[str]:
    """``lines`` (a header first) with the data row on file line ``line`` given new values."""
    changed = list(lines)
    changed[line - 1] = changed[line - 1].split(",", 1)[0] + f",{values}\n"
    return changed


# Prices the reader refuses, in rows otherwise as the plain shape reads them (the PostgreSQL
# import leaves these checks to the server); the last two are equal as floats, not as decimals.
BAD_PRICES = [
    ("105000,104900,104000,104500,1", r"high 104900 is below max\(open, close\) = 105000"),
    ("105000,105100,104600,104500,1", r"low 104600 is above min\(open, close\) = 104500"),
    ("0,105100,0,104500,1", "open 0 must be positive"),
    ("1.00000000000000001,1.0,0.5,1,2", r"high 1\.0 is below max\(open, close\)"),
    ("1,1.5,1.00000000000000001,1.0,2", r"low 1\.00000000000000001 is above min"),
]


@pytest.mark.parametrize(("values", "problem"), BAD_PRICES)
async def test_a_row_with_bad_prices_fails_the_import_at_its_line(
    database: Database, tmp_path: Path, values: str, problem: str
) -> None:
    path = write_gz(tmp_path / "bad.csv.gz", with_row(head_lines(BTC_1M, 3000), 2001, values))

    with pytest.raises(CandleFileError, match=f"line 2001: {problem}") as refused:
        await import_file(database, path, batch_rows=1000)

    assert str(refused.value) == str(CandleReader(path, parse_timeframe("1m")).first_error())
    assert await stored_count(database) == 0


@pytest.mark.parametrize(("values", "problem"), BAD_PRICES[:1] + BAD_PRICES[-1:])
async def test_a_row_with_bad_prices_among_stored_candles_leaves_them_as_they_were(
    database: Database, tmp_path: Path, values: str, problem: str
) -> None:
    lines = head_lines(BTC_1M, 3000)
    await import_file(database, write_gz(tmp_path / "first.csv.gz", lines[:1501]))
    path = write_gz(tmp_path / "bad.csv.gz", with_row(lines, 1201, values))

    # The batch holding line 1201 overlaps stored candles: merged through the staging table.
    with pytest.raises(CandleFileError, match=f"line 1201: {problem}"):
        await import_file(database, path, batch_rows=1000)

    async with database.session_scope() as session:
        stored = await fetch_candles(session, *SERIES, limit=10_000)
    assert stored == list(CandleReader(tmp_path / "first.csv.gz", parse_timeframe("1m")))


@pytest.mark.parametrize("stored_before", [0, 200], ids=["new range", "merged"])
async def test_an_unchecked_batch_is_refused_at_its_first_bad_candle(
    db: Database, tmp_path: Path, stored_before: int
) -> None:
    database = db  # PostgreSQL: SQLite refuses unchecked batches outright (the test below)
    # Two bad rows (file lines 301 and 351): the server's check names the first, whether the
    # batch is copied straight into the table or merged through the staging table.
    lines = with_row(head_lines(BTC_1M, 500), 301, BAD_PRICES[0][0])
    lines = with_row(lines, 351, BAD_PRICES[1][0])
    if stored_before:
        await import_file(database, write_gz(tmp_path / "first.csv.gz", lines[: 1 + stored_before]))
    path = write_gz(tmp_path / "bad.csv.gz", lines)
    batch = next(CandleReader(path, parse_timeframe("1m")).batches(1000, check_prices=False))
    assert not batch.prices_checked and len(batch) == 500

    with pytest.raises(candle_upserts.PricesRefused) as refused:
        async with database.session_scope() as session:
            await upsert_batch(session, *SERIES, batch)

    assert refused.value.ts == START + timedelta(minutes=299)  # line 301: the 300th candle
    assert await stored_count(database) == stored_before


async def test_exchange_candles_are_stored_as_given_without_the_price_check(
    database: Database,
) -> None:
    # Candles from an exchange are the exchange's record (not a file to refuse): a high below
    # the close is kept as it came, as before the check moved into the COPY.
    odd = CandleData(START, Decimal(100), Decimal(99), Decimal(98), Decimal(101), Decimal(1))
    async with database.session_scope() as session:
        assert await upsert_candles(session, *SERIES, [odd]) == UpsertCounts(inserted=1)
        assert await fetch_candles(session, *SERIES) == [odd]


async def test_sqlite_refuses_a_batch_whose_prices_were_not_checked(
    sqlite_db: Database, btc_1m_5000: Path
) -> None:
    reader = CandleReader(btc_1m_5000, parse_timeframe("1m"))
    batch = next(reader.batches(100, check_prices=False))
    assert not batch.prices_checked
    with pytest.raises(ValueError, match="prices were checked"):
        async with sqlite_db.session_scope() as session:
            await upsert_batch(session, *SERIES, batch)
    assert await stored_count(sqlite_db) == 0


async def test_batch_size_does_not_change_the_result(database: Database, btc_1m_5000: Path) -> None:
    report = await import_file(database, btc_1m_5000, batch_rows=777)
    again = await import_file(database, btc_1m_5000, batch_rows=1234)
    assert counts(report) == (5000, 0, 0)
    assert counts(again) == (0, 0, 5000)


async def test_upsert_keeps_the_last_of_duplicate_keys(database: Database) -> None:
    candle = CandleData(START, Decimal(1), Decimal(2), Decimal("0.5"), Decimal("1.5"), Decimal(3))
    newer = replace(candle, close=Decimal("1.75"))
    async with database.session_scope() as session:
        first = await upsert_candles(session, *SERIES, [candle, newer])
        second = await upsert_candles(session, *SERIES, [replace(newer, volume=Decimal("3.0"))])
        stored = await fetch_candles(session, *SERIES)
    assert first == UpsertCounts(inserted=1)
    assert second == UpsertCounts(unchanged=1)  # 3.0 == 3: equal values are not rewritten
    assert stored == [newer]


async def test_series_keys_are_checked_before_reading(
    database: Database, btc_1m_5000: Path
) -> None:
    async with database.session_scope() as session:
        with pytest.raises(InvalidSeriesKey, match="longer than 32"):
            await import_candle_file(
                session, btc_1m_5000, exchange="x" * 33, symbol="A/B", timeframe="1m"
            )
        with pytest.raises(InvalidSeriesKey, match="non-empty"):
            await import_candle_file(
                session, btc_1m_5000, exchange="binance", symbol="", timeframe="1m"
            )
        with pytest.raises(InvalidTimeframe):
            await import_candle_file(
                session, btc_1m_5000, exchange="binance", symbol="A/B", timeframe="1x"
            )


async def test_rows_written_through_the_orm_and_by_the_importer_share_keys(
    database: Database, tmp_path: Path
) -> None:
    # The SQLite fast path writes the stored text itself; it must match what the ORM writes.
    lines = head_lines(BTC_1M, 3)
    ts, open_, high, low, close, volume = lines[2].strip().split(",")
    async with database.session_scope() as session:
        session.add(
            Candle(
                exchange="binance",
                symbol="BTC/USDT",
                timeframe="1m",
                ts=ms_to_datetime(int(ts)),
                open=Decimal(open_),
                high=Decimal(high),
                low=Decimal(low),
                close=Decimal(close),
                volume=Decimal("999"),
            )
        )

    report = await import_file(database, write_gz(tmp_path / "three.csv.gz", lines))

    assert counts(report) == (2, 1, 0)  # the ORM row is found, and its volume corrected
    async with database.session_scope() as session:
        stored = await fetch_candles(session, *SERIES)
    assert [c.volume for c in stored] == [
        Decimal("10.82647"),
        Decimal(volume),
        Decimal(lines[3].split(",")[5]),
    ]


async def test_the_year_of_1m_candles_and_an_overlapping_correction_are_stored_exactly(
    database: Database, tmp_path: Path
) -> None:
    path = shared_file(BTC_1M)
    expected = list(CandleReader(path, parse_timeframe("1m")))

    assert counts(await import_file(database, path)) == (len(expected), 0, 0)
    async with database.session_scope() as session:
        assert await fetch_candles(session, *SERIES, limit=200_000) == expected

    # A later file overlapping the last 10,708 rows: every 1,000th volume corrected, ten new rows.
    lines = head_lines(BTC_1M, len(expected))
    overlap = [lines[0], *lines[120_001:]]
    for index in range(1, len(overlap), 1000):
        overlap[index] = overlap[index].rsplit(",", 1)[0] + ",7.250\n"
        position = 120_000 + index - 1
        expected[position] = replace(expected[position], volume=Decimal("7.25"))
    last = expected[-1]
    for minute in range(1, 11):
        moment = last.ts + timedelta(minutes=minute)
        # Not all in the plain shape: these rows take the row-by-row reader.
        row = [datetime_to_ms(moment), last.open, last.high, last.low, f"{last.low}000", "0E-3"]
        overlap.append(",".join(map(str, row)) + "\n")
        expected.append(replace(last, ts=moment, close=last.low, volume=Decimal(0)))
    overlap_path = write_gz(tmp_path / "overlap.csv.gz", overlap)

    corrected = len(range(1, len(overlap) - 10, 1000))
    assert counts(await import_file(database, overlap_path)) == (
        10,
        corrected,
        len(overlap) - 1 - 10 - corrected,
    )
    async with database.session_scope() as session:
        assert await fetch_candles(session, *SERIES, limit=200_000) == expected


# 40: row 50 in the second of three streamed COPYs, whose batches are merged instead.
@pytest.mark.parametrize("batch_rows", [20_000, 40])
async def test_candles_stored_concurrently_during_the_copy_are_merged(
    db: Database, tmp_path: Path, batch_rows: int
) -> None:
    lines = head_lines(BTC_1M, 100)
    path = write_gz(tmp_path / "first-100.csv.gz", lines)
    expected = list(CandleReader(path, parse_timeframe("1m")))
    async with db.engine.connect() as other:
        # Another writer stores row 50 and has not committed when the import checks the range.
        await other.execute(insert(Candle).values(**SERIES_KEY, **asdict(expected[49])))
        importing = asyncio.ensure_future(import_file(db, path, batch_rows=batch_rows))
        async with db.engine.connect() as watcher:
            while not await watcher.scalar(text(LOCK_WAITERS)):
                # pg_stat_activity is read once per transaction: end it to look again.
                await watcher.rollback()
                assert not importing.done(), importing.result()
                await asyncio.sleep(0.01)
        await other.commit()
        report = await importing

    assert counts(report) == (99, 0, 1)
    async with db.session_scope() as session:
        assert await fetch_candles(session, *SERIES) == expected


SERIES_KEY = {"exchange": "binance", "symbol": "BTC/USDT", "timeframe": "1m"}
LOCK_WAITERS = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock' "
    "AND query LIKE 'COPY%ohlcv%'"
)
