"""Reading candle files for backtests: both formats, gzip, and errors that name the row."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from autogrid.backtest.loader import CandleFileError, infer_timeframe_ms, load_candles
from tests.shared_data import load_csv_rows, shared_file

HEADER = "timestamp,open,high,low,close,volume\n"
T0 = 1_747_699_200_000


def write(tmp_path: Path, name: str, text: str, *, gz: bool = False) -> Path:
    path = tmp_path / name
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def rows(*bars: str) -> str:
    return HEADER + "".join(f"{T0 + i * 60_000},{bar}\n" for i, bar in enumerate(bars))


def test_real_csv_file_matches_a_plain_parse() -> None:
    candles = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz"))
    expected = load_csv_rows("binance_BTC_USDT-1m.csv.gz")
    assert len(candles) == 130_708
    assert candles.ts_ms.dtype == np.int64
    assert np.array_equal(candles.ts_ms, expected[:, 0].astype(np.int64))
    for column, values in enumerate(
        (candles.open, candles.high, candles.low, candles.close, candles.volume), start=1
    ):
        assert np.array_equal(values, expected[:, column])
    assert infer_timeframe_ms(candles.ts_ms) == 60_000


def test_freqtrade_json_with_null_volume_and_its_timeframe() -> None:
    candles = load_candles(shared_file("freqtrade_testdata/futures/XRP_USDT_USDT-1h-mark.json"))
    assert len(candles) == 100 and (candles.volume == 0).all()
    assert infer_timeframe_ms(candles.ts_ms) == 3_600_000
    # Bittrex 1m data has minutes without a candle: the smallest step is still one minute.
    irregular = load_candles(shared_file("freqtrade_testdata/DASH_BTC-1m.json"))
    assert len(irregular) == 12_444 and infer_timeframe_ms(irregular.ts_ms) == 60_000


def test_plain_and_gzipped_and_crlf_csv_read_the_same(tmp_path: Path) -> None:
    text = rows("100,101,99,100.5,3", "100.5,102,100,101,4.25")
    plain = load_candles(write(tmp_path, "a.csv", text))
    packed = load_candles(write(tmp_path, "b.csv.gz", text, gz=True))
    crlf = load_candles(write(tmp_path, "c.csv", text.replace("\n", "\r\n")))
    for other in (packed, crlf):
        assert np.array_equal(other.close, plain.close) and np.array_equal(other.ts_ms, plain.ts_ms)
    assert plain.close.tolist() == [100.5, 101.0] and plain.volume.tolist() == [3.0, 4.25]


GOOD = "100,101,99,100,5"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (rows(GOOD, "100,abc,99,100,5"), "line 3: high 'abc' is not a number"),
        (rows(GOOD, "100,101,99,100"), "line 3: expected 6 columns, got 5"),
        (rows(GOOD, "100,99,98,100.5,5"), "line 3: high is below max(open, close)"),
        (rows(GOOD, "100,101,100.2,100.1,5"), "line 3: low is above min(open, close)"),
        (rows(GOOD, "0,1,0,1,5"), "line 3: prices must be positive"),
        (rows(GOOD, "100,101,99,100,-1"), "line 3: volume is negative or not finite"),
        (rows(GOOD, "100,101,99,nan,1"), "line 3: a price is not finite"),
        (HEADER + f"{T0},{GOOD}\n{T0},{GOOD}\n", "line 3: timestamp is not after"),
        (HEADER + f"1747699200,{GOOD}\n", "line 2: timestamp is not in milliseconds"),
        (HEADER + f"{T0}.5,{GOOD}\n", "line 2: timestamp '1747699200000.5' is not an integer"),
        ("time,o,h,l,c,v\n1,2,3,4,5,6\n", "line 1: expected the header"),
        (HEADER, "the file holds no candles"),
    ],
)
def test_bad_csv_rows_are_named_by_line(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", body)
    with pytest.raises(CandleFileError) as caught:
        load_candles(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_blank_lines_do_not_shift_the_line_number(tmp_path: Path) -> None:
    body = HEADER + f"{T0},1,1,1,1,1\n\n{T0 + 60_000},1,2,0.5,3,1\n"
    with pytest.raises(CandleFileError, match=r"line 4: high is below"):
        load_candles(write(tmp_path, "blank.csv", body))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            [[T0, 1, 1, 1, 1, 1], [T0 + 60_000, 1, "x", 1, 1, 1]],
            "index 1: high 'x' is not a number",
        ),
        ([[T0, 1, 1, 1, 1, 1], [T0 + 60_000, 1, 1, 1]], "index 1: expected a row"),
        ([[T0, 1, 1, 1, 1, 1], [1.5, 1, 1, 1, 1, 1]], "index 1: timestamp 1.5 is not an integer"),
        ([[T0, 1, 1, 1, 1, 1], [T0 - 60_000, 1, 1, 1, 1, 1]], "index 1: timestamp is not after"),
        ({"rows": []}, "expected a JSON array"),
    ],
)
def test_bad_json_rows_are_named_by_index(tmp_path: Path, payload: object, message: str) -> None:
    path = write(tmp_path, "bad.json", json.dumps(payload))
    with pytest.raises(CandleFileError, match=message.replace("(", r"\(")):
        load_candles(path)


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    data = gzip.compress(rows(GOOD, GOOD).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CandleFileError, match="cannot read the file"):
        load_candles(path)
