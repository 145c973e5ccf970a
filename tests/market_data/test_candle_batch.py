"""The block reader of plain CSV against the row-by-row reader: same candles, same errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from autogrid.market_data.candle_batch import CandleBatch
from autogrid.market_data.parsers import CandleFileError, CandleReader
from autogrid.market_data.timeframes import ms_to_datetime, parse_timeframe
from autogrid.models.candle import Candle
from tests.market_data.conftest import BTC_1H, BTC_1M, shared_file

HEADER = "timestamp,open,high,low,close,volume\n"
TS = 1747699200000  # 2025-05-20T00:00Z


def row_by_row(path: Path, timeframe: str) -> tuple[CandleReader, CandleBatch]:
    reader = CandleReader(path, parse_timeframe(timeframe))
    return reader, CandleBatch.from_candles(list(reader))


def in_blocks(path: Path, timeframe: str, size: int) -> tuple[CandleReader, CandleBatch]:
    reader = CandleReader(path, parse_timeframe(timeframe))
    batches = list(reader.batches(size))
    assert all(len(batch) for batch in batches)
    columns: list[list[str]] = [[] for _ in range(5)]
    for batch in batches:
        for column, values in zip(columns, batch.canonical_columns(), strict=True):
            column.extend(values)
    ts = np.concatenate([batch.ts_ms for batch in batches]) if batches else np.array([], np.int64)
    open_, high, low, close, volume = columns
    return reader, CandleBatch(ts.astype(np.int64), open_, high, low, close, volume)


def assert_same(
    first: tuple[CandleReader, CandleBatch], second: tuple[CandleReader, CandleBatch]
) -> None:
    (reader_a, batch_a), (reader_b, batch_b) = first, second
    assert batch_a.ts_ms.tolist() == batch_b.ts_ms.tolist()
    assert batch_a.canonical_columns() == batch_b.canonical_columns()
    assert (reader_a.rows_read, reader_a.first_ms, reader_a.last_ms) == (
        reader_b.rows_read,
        reader_b.first_ms,
        reader_b.last_ms,
    )
    assert reader_a.gap_report() == reader_b.gap_report()


@pytest.mark.parametrize(("name", "timeframe"), [(BTC_1M, "1m"), (BTC_1H, "1h")])
def test_real_files_read_the_same_in_blocks_as_row_by_row(name: str, timeframe: str) -> None:
    path = shared_file(name)
    expected = row_by_row(path, timeframe)
    assert len(expected[1]) > 70_000
    assert_same(in_blocks(path, timeframe, 20_000), expected)
    if timeframe == "1h":  # the 1h series has gaps, some of them across block edges
        assert expected[0].gap_report().gap_count > 0
        assert_same(in_blocks(path, timeframe, 997), expected)


def test_values_that_floats_cannot_tell_apart_are_compared_exactly(tmp_path: Path) -> None:
    # 1.00000000000000001 and 1.0 are the same float64: only Decimal sees high below open.
    path = tmp_path / "close.csv"
    path.write_text(f"{HEADER}{TS},1.00000000000000001,1.0,0.5,1,2\n")
    with pytest.raises(CandleFileError, match=r"line 2: high 1\.0 is below max"):
        list(CandleReader(path, parse_timeframe("1m")).batches(10))
    path.write_text(f"{HEADER}{TS},1.00000000000000001,1.00000000000000002,1,1.0,2\n")
    batch = next(CandleReader(path, parse_timeframe("1m")).batches(10))
    assert batch.canonical_columns() == (
        ["1.00000000000000001"],
        ["1.00000000000000002"],
        ["1"],
        ["1"],
        ["2"],
    )


def test_sqlite_times_are_the_columns_own_text() -> None:
    dialect = sqlite.dialect()
    stored_text = Candle.ts.type.dialect_impl(dialect).bind_processor(dialect)
    assert stored_text is not None
    times = [TS, TS + 123, 253_402_300_799_999, 100_000_000_000]
    ones = ["1"] * 4
    batch = CandleBatch(np.array(times, np.int64), ones, ones, ones, ones, ones)
    assert batch.sqlite_datetimes() == [stored_text(ms_to_datetime(ms)) for ms in times]
    assert batch.iso_utc()[:2] == ["2025-05-20T00:00:00.000Z", "2025-05-20T00:00:00.123Z"]
    assert ms_to_datetime(TS) == datetime(2025, 5, 20, tzinfo=UTC)


# Texts in and around the plain shape: trailing zeros, leading zeros, exponents, signs, blanks,
# digits beyond NUMERIC(38,18), values equal as floats but not as decimals.
NUMBERS = st.sampled_from(
    [
        "1", "1.0", "1.10", "1.1", "01", ".5", "5.", "1e0", "1E+1", "+1", "-1", " 1", "1_0", "",
        "0", "0.0", "2", "10", "1.00000000000000001", "1.00000000000000002", "0.000000000000000001",
        "1.0000000000000000001", "12345678901234567890.5", "123456789012345678901", "nan",
    ]
)  # fmt: skip
STEPS = st.sampled_from([60_000, 60_000, 60_000, 120_000, 0, -60_000, 30_000])


# Plain texts of a few values, ordered (and so always a valid row when picked in order), some
# of them equal as float64 but not as decimals.
ORDERED = [
    ["0.000000000000000001", "0.00000000000000000100"],
    ["1", "1.0", "1.000"],
    ["1.00000000000000001"],
    ["1.00000000000000002", "1.000000000000000020"],
    ["1.1", "1.10"],
    ["10", "10.0"],
    ["12345678901234567890.5"],
]


@st.composite
def plain_rows(draw: st.DrawFn) -> list[str]:
    ranks = sorted(draw(st.lists(st.integers(0, len(ORDERED) - 1), min_size=4, max_size=4)))
    low, high = ranks[0], ranks[3]
    open_, close = draw(st.permutations(ranks[1:3]))
    picks = [draw(st.sampled_from(ORDERED[rank])) for rank in (open_, high, low, close)]
    return [*picks, draw(st.sampled_from(["0", "0.0", "2.50", "3"]))]


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    lines, ts = [HEADER], TS
    broken = draw(st.booleans())
    for _ in range(draw(st.integers(1, 12))):
        ts += draw(STEPS) if broken else 60_000 * draw(st.sampled_from([1, 1, 1, 3]))
        values = draw(plain_rows())
        if broken and draw(st.booleans()):
            values[draw(st.integers(0, 4))] = draw(NUMBERS)
        elif broken and draw(st.booleans()):  # prices out of order, maybe only as decimals
            values[:4] = draw(st.permutations(values[:4]))
        ending = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\n\n"])) if broken else "\n"
        lines.append(",".join([str(ts), *values]) + ending)
    text = "".join(lines)
    return text.rstrip("\n") if draw(st.booleans()) else text


def outcome(read: object) -> object:
    try:
        return read()  # type: ignore[operator]
    except CandleFileError as error:
        return str(error)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=csv_files(), size=st.integers(1, 5))
def test_blocks_and_rows_agree_on_any_file(tmp_path: Path, content: str, size: int) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(content, newline="")
    expected = outcome(lambda: row_by_row(path, "1m"))
    got = outcome(lambda: in_blocks(path, "1m", size))
    if isinstance(expected, str) or isinstance(got, str):
        assert got == expected
    else:
        assert isinstance(expected, tuple) and isinstance(got, tuple)
        assert_same(got, expected)


@pytest.mark.parametrize("built", [True, False])
@pytest.mark.parametrize("size", [1, 997, 4_999, 5_000])
def test_batches_joined_are_the_batch_read_at_once(
    btc_1m_5000: Path, size: int, built: bool
) -> None:
    whole = next(CandleReader(btc_1m_5000, parse_timeframe("1m")).batches(5_000))
    parts = list(CandleReader(btc_1m_5000, parse_timeframe("1m")).batches(size))
    if built:  # as the importer's steps build their COPY text
        for part in parts:
            part.copy_rows  # noqa: B018
    joined = CandleBatch.joined(parts)
    assert joined.ts_ms.tolist() == whole.ts_ms.tolist()
    assert joined.columns == whole.columns
    assert joined.canonical_columns() == whole.canonical_columns()
    assert joined.copy_rows == whole.copy_rows
