"""The binary COPY decoder against a byte-by-byte reading of the format, over random rows."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autogrid.market_data.binary_copy import SIGNATURE, CopyFormatError, candle_arrays_from_copy

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00Z in Unix microseconds
INT64 = st.integers(-(2**63) + 1, 2**63 - 2)  # the two ends are PostgreSQL's infinities
ROWS = st.lists(st.tuples(INT64, *[st.integers(0, 2**64 - 1)] * 5), max_size=40)
# Around whole milliseconds (halves first) on both sides of the Unix epoch, where the rounding
# turns, and of PostgreSQL's own (2000-01-01).
NEAR_EPOCHS = st.builds(
    lambda epoch, ms, micros: epoch + ms * 1000 + micros,
    st.sampled_from([-PG_EPOCH_US, 0]),
    st.integers(-3, 3),
    st.sampled_from([500, -500, 499, -499, 501, -501, 0, 1, -1]),
)


def copy_bytes(rows: list[tuple[int, ...]], extension: bytes = b"", flags: int = 0) -> bytes:
    """What the server sends for rows of (timestamptz, float8 x5), values as raw float bits."""
    parts = [SIGNATURE, struct.pack(">iI", flags, len(extension)), extension]
    for ts, *bits in rows:
        fields = [struct.pack(">iq", 8, ts)] + [struct.pack(">iQ", 8, value) for value in bits]
        parts.append(struct.pack(">h", 6) + b"".join(fields))
    parts.append(struct.pack(">h", -1))
    return b"".join(parts)


def unix_ms(pg_micros: int) -> int:
    """PostgreSQL's CAST(EXTRACT(EPOCH FROM ts) * 1000 AS BIGINT): nearest, halves away from 0."""
    unix = pg_micros + PG_EPOCH_US
    whole, rest = divmod(abs(unix), 1000)
    rounded = whole + (rest >= 500)
    return rounded if unix >= 0 else -rounded


@settings(max_examples=300, deadline=None)
@given(
    rows=st.one_of(ROWS, st.lists(st.tuples(NEAR_EPOCHS, *[st.integers(0, 2**64 - 1)] * 5))),
    extension=st.binary(max_size=12),
)
def test_decodes_every_row_bit_for_bit(rows: list[tuple[int, ...]], extension: bytes) -> None:
    arrays = candle_arrays_from_copy(copy_bytes(rows, extension))

    columns = (arrays.ts_ms, arrays.open, arrays.high, arrays.low, arrays.close, arrays.volume)
    assert [column.dtype for column in columns] == [np.int64] + [np.float64] * 5
    assert all(column.flags.c_contiguous and column.flags.writeable for column in columns)
    assert arrays.ts_ms.tolist() == [unix_ms(row[0]) for row in rows]
    for index, column in enumerate(columns[1:], start=1):
        # Bits, not values: NaN payloads, -0.0 and subnormals pass through unchanged.
        assert column.view(np.uint64).tolist() == [row[index] for row in rows]


def test_an_empty_range_is_empty_columns() -> None:
    arrays = candle_arrays_from_copy(copy_bytes([]))

    assert len(arrays) == 0 and arrays.ts_ms.dtype == np.int64 and arrays.open.dtype == np.float64


def test_halves_of_a_millisecond_round_away_from_the_unix_epoch() -> None:
    micros = [-PG_EPOCH_US + offset for offset in (1500, 500, 499, -500, -501, -1500)]

    arrays = candle_arrays_from_copy(copy_bytes([(us, 0, 0, 0, 0, 0) for us in micros]))

    assert arrays.ts_ms.tolist() == [2, 1, 0, -1, -1, -2]


def null_in_first_row() -> bytes:
    data = bytearray(copy_bytes([(0, 1, 2, 3, 4, 5), (60_000_000, 1, 2, 3, 4, 5)]))
    first_value = len(SIGNATURE) + 8 + 2 + 12
    data[first_value : first_value + 12] = struct.pack(">i", -1)  # NULL: length -1, no bytes
    # Padded to whole rows again before the trailer: only the fields' lengths can tell.
    return bytes(data[:-2]) + b"\x00" * 8 + bytes(data[-2:])


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"PGCOPY\n", id="cut-short header"),
        pytest.param(b"COPY" + copy_bytes([(0, 1, 2, 3, 4, 5)])[4:], id="no signature"),
        pytest.param(copy_bytes([(0, 1, 2, 3, 4, 5)])[:-3], id="cut-short row"),
        pytest.param(copy_bytes([(0, 1, 2, 3, 4, 5)], flags=1 << 16), id="with OIDs"),
        pytest.param(null_in_first_row(), id="a NULL value"),
        pytest.param(copy_bytes([(2**63 - 1, 1, 2, 3, 4, 5)]), id="infinity"),
        pytest.param(copy_bytes([(-(2**63), 1, 2, 3, 4, 5)]), id="-infinity"),
    ],
)
def test_refuses_what_is_not_six_fixed_width_fields(data: bytes) -> None:
    with pytest.raises(CopyFormatError):
        candle_arrays_from_copy(data)
