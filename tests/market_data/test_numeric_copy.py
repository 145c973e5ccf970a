"""The NUMERIC binary COPY decoder: each value as the nearest double (what the server's float8
cast gives), or None for bytes it does not read (the loader then has the server cast)."""

from __future__ import annotations

import struct
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.market_data.binary_copy import SIGNATURE, CopyFormatError
from autogrid.market_data.numeric_copy import numeric_candle_arrays

MINUTE_US = 60_000_000
ROW_START = b"\x00\x06\x00\x00\x00\x08"  # 6 fields, an 8-byte timestamp
SCALE = 18  # the candle columns' NUMERIC(38, 18)
# Values of NUMERIC(38, 18): up to 20 integer and 18 decimal digits, of every length between.
MONEY = st.builds(
    lambda digits, scale, negative: Decimal(f"{'-' if negative else ''}{digits}E-{scale}"),
    st.integers(0, 10**38 - 1),
    st.integers(0, SCALE),
    st.booleans(),
)
# Prices and volumes as exchanges give them: few significant digits (the fast path).
QUOTED = st.builds(
    lambda digits, scale: Decimal(f"{digits}E-{scale}"),
    st.integers(0, 10**11 - 1),  # at most 15 digits with the last group's zeros: below 2**53
    st.integers(0, 10),
)


def numeric_send(value: Decimal, dscale: int = SCALE) -> bytes:
    """PostgreSQL's binary NUMERIC: base-10000 digits with no leading or trailing zero digit."""
    if value.is_nan():
        return struct.pack(">hhHH", 0, 0, 0xC000, 0)
    if value.is_infinite():
        return struct.pack(">hhHH", 0, 0, 0xF000 if value < 0 else 0xD000, 0)
    fraction_groups = -(-dscale // 4)
    units = int(abs(value).scaleb(4 * fraction_groups))  # exact: at most dscale decimals
    groups: list[int] = []
    while units:
        units, group = divmod(units, 10_000)
        groups.insert(0, group)
    weight = len(groups) - fraction_groups - 1
    while groups and groups[-1] == 0:
        groups.pop()
    sign = 0x4000 if value < 0 and groups else 0
    head = struct.pack(">hhHH", len(groups), weight if groups else 0, sign, dscale)
    return head + b"".join(struct.pack(">H", group) for group in groups)


def copy_bytes(rows: list[tuple[int, list[Decimal]]]) -> bytes:
    parts = [SIGNATURE, struct.pack(">iI", 0, 0)]
    for ts, values in rows:
        fields = [struct.pack(">iq", 8, ts)]
        for value in values:
            encoded = numeric_send(value)
            fields.append(struct.pack(">i", len(encoded)) + encoded)
        parts.append(struct.pack(">h", 6) + b"".join(fields))
    parts.append(struct.pack(">h", -1))
    return b"".join(parts)


def has_look_alike(data: bytes, rows: int) -> bool:
    """The bytes a row starts with also inside a row (a value's digits, or its last digit and
    the next value's length): the decoder may then refuse."""
    found, at = 0, data.find(ROW_START)
    while at >= 0:
        found, at = found + 1, data.find(ROW_START, at + 1)
    return found > rows


def assert_nearest_doubles(data: bytes, rows: list[tuple[int, list[Decimal]]]) -> None:
    arrays = numeric_candle_arrays(data)
    if arrays is None:
        assert has_look_alike(data, len(rows))  # the only reason to refuse these
        return
    columns = (arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
    assert all(column.dtype == np.float64 and column.flags.writeable for column in columns)
    assert arrays.ts_ms.tolist() == [(ts + 946_684_800_000_000) // 1000 for ts, _ in rows]
    for index, column in enumerate(columns):
        # Correctly rounded, as the server's cast; a NUMERIC has no negative zero.
        expected = [float(values[index]) or 0.0 for _, values in rows]
        assert column.tobytes() == np.array(expected, dtype=np.float64).tobytes()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(QUOTED, min_size=5, max_size=5), max_size=60))
def test_quoted_prices_become_the_nearest_doubles(values: list[list[Decimal]]) -> None:
    rows = [(index * MINUTE_US, row) for index, row in enumerate(values)]

    assert_nearest_doubles(copy_bytes(rows), rows)


# Candles as quoted (two decimals, a few for volumes), around a long value or two.
PLAIN = [
    [Decimal(f"{104_000 + row * 7 + column}.{row % 100:02d}") for column in range(4)]
    + [Decimal(f"{row % 13}.{row * 37 % 100_000:05d}")]
    for row in range(500)
]


@settings(max_examples=150, deadline=None)
@given(st.lists(MONEY, min_size=1, max_size=5), st.integers(0, len(PLAIN) - 1))
def test_a_few_long_values_are_converted_one_by_one(long: list[Decimal], row: int) -> None:
    """Up to one value in a hundred (more digits than a double holds, negatives) is still read
    here, exactly: through ``Decimal``."""
    values = [list(candle) for candle in PLAIN]
    values[row][: len(long)] = long
    rows = [(index * MINUTE_US, candle) for index, candle in enumerate(values)]

    assert_nearest_doubles(copy_bytes(rows), rows)


def test_nan_and_infinities_are_themselves() -> None:
    specials = [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal(0), Decimal(1)]
    rows = [(0, specials)] + [(index * MINUTE_US, [Decimal(1)] * 5) for index in range(1, 200)]

    arrays = numeric_candle_arrays(copy_bytes(rows))

    assert arrays is not None
    assert np.isnan(arrays.open[0]) and arrays.high[0] == np.inf and arrays.low[0] == -np.inf
    assert arrays.close[0] == 0.0 and arrays.volume[0] == 1.0


def test_many_long_values_are_left_to_the_server() -> None:
    rows = [(index * MINUTE_US, [Decimal("123456789012.3456789")] * 5) for index in range(10)]

    assert numeric_candle_arrays(copy_bytes(rows)) is None


def test_a_row_start_look_alike_inside_a_value_is_left_to_the_server() -> None:
    """Digits 6, 0 and 8 are the bytes a row starts with (6 fields, an 8-byte timestamp)."""
    look_alike = Decimal("6.00000008")
    assert ROW_START in numeric_send(look_alike)
    rows = [(0, [Decimal(1)] * 4 + [look_alike]), (MINUTE_US, [Decimal(2)] * 5)]

    assert numeric_candle_arrays(copy_bytes(rows)) is None


def test_an_empty_range_is_empty_columns() -> None:
    arrays = numeric_candle_arrays(copy_bytes([]))

    assert arrays is not None and len(arrays) == 0 and arrays.open.dtype == np.float64


def test_a_null_is_left_to_the_server() -> None:
    data = bytearray(copy_bytes([(0, [Decimal(1)] * 5), (MINUTE_US, [Decimal(1)] * 5)]))
    first_value = len(SIGNATURE) + 8 + 2 + 12
    one = len(numeric_send(Decimal(1)))
    data[first_value : first_value + 4 + one] = struct.pack(">i", -1) + b"\x00" * one

    assert numeric_candle_arrays(bytes(data)) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"PGCOPY\n", id="cut-short header"),
        pytest.param(b"COPY" + copy_bytes([(0, [Decimal(1)] * 5)])[4:], id="no signature"),
        pytest.param(copy_bytes([(0, [Decimal(1)] * 5)])[:-3], id="cut-short trailer"),
    ],
)
def test_refuses_what_is_no_binary_copy(data: bytes) -> None:
    with pytest.raises(CopyFormatError):
        numeric_candle_arrays(data)
