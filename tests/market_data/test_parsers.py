"""The file readers on real candle files, and every kind of bad row named by its line/index."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from autogrid.exchanges.types import CandleData
from autogrid.market_data import parsers
from autogrid.market_data.parsers import CandleFileError, CandleFormat, CandleReader
from autogrid.market_data.timeframes import datetime_to_ms, parse_timeframe
from tests.market_data.conftest import BTC_1H, BTC_1M, head_lines, shared_file, write_gz

ONE_MINUTE = parse_timeframe("1m")


def read_all(
    path: Path, timeframe: str = "1m", **options: int
) -> tuple[CandleReader, list[CandleData]]:
    reader = CandleReader(path, parse_timeframe(timeframe), **options)
    return reader, list(reader)


def test_real_csv_gz_values_are_the_exact_decimal_text(btc_1m_5000: Path) -> None:
    reader, candles = read_all(btc_1m_5000)

    assert reader.format is CandleFormat.CSV
    assert reader.rows_read == len(candles) == 5000
    assert reader.gap_report().gap_count == 0
    assert candles[0] == CandleData(
        ts=datetime(2025, 5, 20, tzinfo=UTC),
        open=Decimal("105573.73"),
        high=Decimal("105597.1"),
        low=Decimal("105554.31"),
        close=Decimal("105554.32"),
        volume=Decimal("10.82647"),
    )
    # Every value, not only the first row: Decimal text in, the same text out, no float between.
    for line, candle in zip(head_lines(BTC_1M, 5000)[1:], candles, strict=True):
        fields = line.strip().split(",")
        assert datetime_to_ms(candle.ts) == int(fields[0])
        assert [
            str(v) for v in (candle.open, candle.high, candle.low, candle.close, candle.volume)
        ] == fields[1:]


def test_plain_and_gzipped_csv_read_the_same(btc_1m_5000: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(head_lines(BTC_1M, 5000)))
    assert read_all(plain)[1] == read_all(btc_1m_5000)[1]


@pytest.mark.parametrize(
    ("name", "timeframe", "rows", "first_utc", "irregular_steps"),
    # Expected values from shared/data/README.md, section 3.
    [
        ("UNITTEST_BTC-1m.json", "1m", 13_681, "2017-11-04T23:02", 538),
        ("ETH_BTC-1m.json", "1m", 14_397, "2018-01-20T04:53", 1),
        ("ADA_BTC-5m.json", "5m", 5_720, "2018-01-10T04:55", 5),
        ("XRP_ETH-5m.json", "5m", 712, "2019-10-11T00:00", 0),
    ],
)
def test_freqtrade_json_matches_its_readme_entry(
    name: str, timeframe: str, rows: int, first_utc: str, irregular_steps: int
) -> None:
    path = shared_file(f"freqtrade_testdata/{name}")
    reader, candles = read_all(path, timeframe)

    assert reader.format is CandleFormat.JSON
    assert len(candles) == rows
    assert candles[0].ts == datetime.fromisoformat(first_utc).replace(tzinfo=UTC)
    assert reader.gap_report().gap_count == irregular_steps
    raw = json.loads(path.read_text(), parse_float=Decimal)
    assert [
        [datetime_to_ms(c.ts), c.open, c.high, c.low, c.close, c.volume] for c in candles
    ] == raw


def test_json_exponent_values_stay_exact() -> None:
    _, candles = read_all(shared_file("freqtrade_testdata/ADA_BTC-5m.json"), "5m")
    assert candles[0].open == Decimal("0.0000533")  # written 5.33e-05 in the file


def test_gzipped_and_misnamed_json_are_detected_by_content(tmp_path: Path) -> None:
    source = shared_file("freqtrade_testdata/XRP_ETH-5m.json")
    gzipped = tmp_path / "XRP_ETH-5m.json.gz"
    gzipped.write_bytes(gzip.compress(source.read_bytes()))
    misnamed = tmp_path / "XRP_ETH-5m.csv"
    misnamed.write_bytes(source.read_bytes())

    expected = read_all(source, "5m")[1]
    for path in (gzipped, misnamed):
        reader, candles = read_all(path, "5m")
        assert reader.format is CandleFormat.JSON
        assert candles == expected


def test_json_rows_cut_by_the_read_chunks_decode_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    path = shared_file("freqtrade_testdata/XRP_ETH-5m.json")
    expected = read_all(path, "5m")[1]
    for chunk in (1, 7, 64):
        monkeypatch.setattr(parsers, "READ_CHUNK_CHARS", chunk)
        assert read_all(path, "5m")[1] == expected


def test_mark_price_candles_with_null_volume_read_as_zero_volume() -> None:
    _, candles = read_all(
        shared_file("freqtrade_testdata/futures/XRP_USDT_USDT-1h-mark.json"), "1h"
    )
    assert len(candles) == 100
    assert {candle.volume for candle in candles} == {Decimal(0)}


def test_gaps_in_the_real_1h_series_match_the_readme() -> None:
    reader, candles = read_all(shared_file(BTC_1H), "1h", gap_examples=100)
    report = reader.gap_report()

    assert len(candles) == 74_464
    assert candles[0].open == Decimal("4261.48")  # Binance BTC/USDT's first hour
    assert (report.gap_count, report.missing_candles) == (28, 128)
    assert len(report.examples) == 28
    largest = sorted(report.examples, key=lambda gap: -gap.missing)[:5]
    assert [(str(gap).split(" ->")[0][:10], gap.missing) for gap in largest] == [
        ("2018-02-08", 33),
        ("2018-06-26", 10),
        ("2019-05-15", 10),
        ("2019-08-15", 8),
        ("2018-07-04", 7),
    ]
    assert str(largest[0]) == "2018-02-08T00:00Z -> 2018-02-09T10:00Z (33 missing)"


def test_gap_examples_are_limited_but_counts_are_complete() -> None:
    reader, _ = read_all(shared_file(BTC_1H), "1h")
    report = reader.gap_report()
    assert len(report.examples) == 5
    assert (report.gap_count, report.missing_candles) == (28, 128)
    assert str(report.examples[0]) == "2017-09-06T16:00Z -> 2017-09-06T23:00Z (6 missing)"


# --- bad rows: the first one stops the read, naming its line -----------------------------------

BAD_LINE = 7  # line 1 is the header, so this replaces the 6th data row (ts 1747699500000)
TS = 1747699500000  # 2025-05-20T00:05Z, the row's real timestamp


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        (f"{TS},1,2,3,4", "expected 6 columns (timestamp,open,high,low,close,volume), got 5"),
        (f"{TS},1,2,3,4,5,6", "expected 6 columns"),
        (f"{TS},abc,105000,104000,104500,1", "open 'abc' is not a number"),
        (f"{TS},105000,105100,104000,,1", "close '' is not a number"),
        (f"{TS},NaN,105100,104000,104500,1", "open 'NaN' is not a finite number"),
        (f"{TS},105000,104900,104000,104500,1", "high 104900 is below max(open, close) = 105000"),
        (f"{TS},105000,105100,104600,104500,1", "low 104600 is above min(open, close) = 104500"),
        (f"{TS},105000,105100,104000,104500,-0.5", "volume -0.5 is negative"),
        (f"{TS},0,105100,0,104500,1", "open 0 must be positive"),
        (f"{TS},1.0000000000000000001,2,1,1,1", "open 1.0000000000000000001 has more than 18"),
        (f"{TS}.0,105000,105100,104000,104500,1", "timestamp '1747699500000.0' is not an integer"),
        (f"{TS // 1000},105000,105100,104000,104500,1", "seconds given?"),
        (
            f"{TS + 30_000},105000,105100,104000,104500,1",
            "timestamp 1747699530000 (2025-05-20T00:05:30Z) is not aligned to the 1m timeframe",
        ),
        (f"{TS - 60_000},105000,105100,104000,104500,1", "duplicate timestamp 1747699440000"),
        (f"{TS - 120_000},105000,105100,104000,104500,1", "is earlier than the previous row's"),
    ],
)
def test_bad_csv_row_names_its_line_and_problem(tmp_path: Path, bad_row: str, problem: str) -> None:
    lines = head_lines(BTC_1M, 20)
    lines[BAD_LINE - 1] = bad_row + "\n"
    path = write_gz(tmp_path / "bad.csv.gz", lines)

    with pytest.raises(CandleFileError) as caught:
        read_all(path)

    assert str(caught.value).startswith(f"{path}: line {BAD_LINE}: ")
    assert problem in str(caught.value)
    assert (caught.value.position_kind, caught.value.position) == ("line", BAD_LINE)


def test_line_numbers_count_blank_lines_and_crlf(tmp_path: Path) -> None:
    lines = [line.replace("\n", "\r\n") for line in head_lines(BTC_1M, 10)]
    lines.insert(3, "\r\n")  # a blank line 4 is skipped but still counted
    lines[8] = "1747699500000,1,1,1,1,-1\r\n"
    path = tmp_path / "crlf.csv"
    path.write_text("".join(lines), newline="")

    with pytest.raises(CandleFileError, match=r": line 9: volume -1 is negative"):
        read_all(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", "line 1: expected the header 'timestamp,open,high,low"),
        ("", "the file is empty"),
        ("\n\n", "the file is empty"),
    ],
)
def test_csv_header_problems(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "candles.csv"
    path.write_text(content)
    with pytest.raises(CandleFileError, match=message):
        read_all(path)


def test_header_is_case_and_space_tolerant_and_a_bom_is_ignored(tmp_path: Path) -> None:
    lines = head_lines(BTC_1M, 3)
    lines[0] = "\ufeffTimestamp, Open, High, Low, Close, Volume\n"
    path = tmp_path / "excel.csv"
    path.write_text("".join(lines), encoding="utf-8")
    assert len(read_all(path)[1]) == 3


def test_truncated_gzip_is_a_clear_error(btc_1m_5000: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(btc_1m_5000.read_bytes()[:20_000])
    with pytest.raises(CandleFileError, match="cannot read the file after line"):
        read_all(truncated)


# --- bad JSON rows: named by their array index ------------------------------------------------

GOOD_ROWS = [
    [1570752000000, 0.00141342, 0.00141658, 0.00141192, 0.00141192, 3478.0],
    [1570752300000, 0.00141331, 0.00141469, 0.00141159, 0.00141161, 3178.0],
    [1570752600000, 0.00141327, 0.00141428, 0.00141222, 0.00141428, 2921.0],
]


def json_with_row_3(row_text: str) -> str:
    return "[" + ",".join(json.dumps(row) for row in GOOD_ROWS) + "," + row_text + "]"


@pytest.mark.parametrize(
    ("row_text", "problem"),
    [
        ("[1570752900000, 0.0014, 0.0015, 0.0013]", "expected 6 values"),
        ('[1570752900000, "0.0014", 0.0015, 0.0013, 0.0014, 1]', "open '0.0014' is not a number"),
        ("[true, 0.0014, 0.0015, 0.0013, 0.0014, 1]", "timestamp True is not an integer"),
        (
            "[1570752900000.5, 0.0014, 0.0015, 0.0013, 0.0014, 1]",
            "timestamp Decimal('1570752900000.5')",
        ),
        ("[1570752900000, NaN, 0.0015, 0.0013, 0.0014, 1]", "open 'NaN' is not a number"),
        (
            "[1570752900000, 0.0014, 0.0013, 0.0013, 0.0014, 1]",
            "high 0.0013 is below max(open, close)",
        ),
        ("[1570752900000, 0.0014, 0.0015, 0.0013, 0.0014, -2]", "volume -2 is negative"),
        ("[1570752600000, 0.0014, 0.0015, 0.0013, 0.0014, 1]", "duplicate timestamp"),
        ("[1570752960000, 0.0014, 0.0015, 0.0013, 0.0014, 1]", "not aligned to the 5m timeframe"),
        ("[1570752900000, 0.0014, 0.0015, 0.0013, 0.0014, 1,]", "invalid JSON"),
        ("{}", "expected a row [timestamp, open, high, low, close, volume], got {}"),
    ],
)
def test_bad_json_row_names_its_array_index(tmp_path: Path, row_text: str, problem: str) -> None:
    path = tmp_path / "XRP_ETH-5m.json"
    path.write_text(json_with_row_3(row_text))

    with pytest.raises(CandleFileError) as caught:
        read_all(path, "5m")

    assert str(caught.value).startswith(f"{path}: index 3: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", None),
        ('{"rows": []}', "candles.json: expected a JSON array of rows"),
        (
            json_with_row_3("[1570752900000, 1, 1, 1, 1, 1]") + " x",
            "candles.json: unexpected data after the closing",
        ),
        (
            "[[1570752000000, 1, 1, 1, 1, 1] [1570752300000, 1, 1, 1, 1, 1]]",
            "index 0: expected ',' or ']'",
        ),
        ("[[1570752000000, 1, 1, 1, 1, 1],", "index 1: invalid JSON"),
    ],
)
def test_json_structure_problems(tmp_path: Path, content: str, message: str | None) -> None:
    path = tmp_path / "candles.json"
    path.write_text(content)
    if message is None:
        assert read_all(path)[1] == []
        return
    with pytest.raises(CandleFileError, match=message.replace("[", r"\[")):
        read_all(path, "5m")
