"""Candle columns from PostgreSQL's binary COPY of ``(ts, open, high, low, close, volume)`` rows.

The loader asks for the open time as ``timestamptz`` and the five values already cast to
``float8`` by the server, so every field has a fixed width (an int32 length of 8 and 8 big-endian
bytes) and the rows are one numpy record array over the received bytes: no per-row Python work.
Format: https://www.postgresql.org/docs/current/sql-copy.html ("Binary Format").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from autogrid.trading.candles import CandleArrays

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
VALUE_FIELDS = ("open", "high", "low", "close", "volume")
FIELD_COUNT = 1 + len(VALUE_FIELDS)
# The values as unsigned integers: turning big-endian into native order is then a byte swap that
# keeps every bit (NaN payloads, -0.0), and the result is viewed as float64.
ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("ts_length", ">i4"),
        ("ts", ">i8"),
        *((name, [("length", ">i4"), ("bits", ">u8")]) for name in VALUE_FIELDS),
    ]
)
_HEADER_FIXED = len(SIGNATURE) + 8  # flags and header-extension length, two int32
_TRAILER = b"\xff\xff"  # field count -1
_CRITICAL_FLAGS = 0xFFFF0000  # bits 16-31: a reader must stop on any it does not expect
# Timestamps travel as microseconds since PostgreSQL's origin, 2000-01-01T00:00Z.
_PG_EPOCH_MS = 946_684_800_000
_INFINITIES = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)  # '-infinity', 'infinity'


class CopyFormatError(ValueError):
    """The bytes are not a binary COPY of timestamp + five float8 columns without NULLs."""


def candle_arrays_from_copy(data: bytes) -> CandleArrays:
    """Columns of a whole binary COPY, in its row order; ``ts_ms`` as PostgreSQL's
    ``CAST(EXTRACT(EPOCH FROM ts) * 1000 AS BIGINT)`` gives it (halves rounded away from zero)."""
    rows = _rows(data)
    if len(rows) == 0:
        return CandleArrays.empty()
    lengths_ok = rows["ts_length"] == 8
    for name in VALUE_FIELDS:
        lengths_ok &= rows[name]["length"] == 8
    if not (np.all(rows["fields"] == FIELD_COUNT) and np.all(lengths_ok)):
        raise CopyFormatError("a row is not six 8-byte fields (a NULL or another column type)")
    values = (rows[name]["bits"].astype(np.uint64).view(np.float64) for name in VALUE_FIELDS)
    return CandleArrays(ms_from_pg_microseconds(rows["ts"].astype(np.int64)), *values)


def ms_from_pg_microseconds(micros: NDArray[np.int64]) -> NDArray[np.int64]:
    """Unix milliseconds of PostgreSQL timestamps (microseconds since 2000), rounded like its
    numeric-to-bigint cast: to the nearest, halves away from zero (of the Unix time)."""
    if np.isin(micros, _INFINITIES).any():
        raise CopyFormatError("an infinite timestamp has no millisecond value")
    # Rounded before the epoch shift, which is whole milliseconds: no overflow near the limits.
    whole, rest = np.divmod(micros, 1000)
    unix_non_negative = micros >= -_PG_EPOCH_MS * 1000
    round_up = (rest > 500) | ((rest == 500) & unix_non_negative)
    result: NDArray[np.int64] = whole + round_up + _PG_EPOCH_MS
    return result


def copy_body(data: bytes) -> tuple[int, int]:
    """Where a binary COPY's rows start and end, its header and trailer checked."""
    if not data.startswith(SIGNATURE) or len(data) < _HEADER_FIXED + len(_TRAILER):
        raise CopyFormatError("not a binary COPY (no PGCOPY signature)")
    flags = int.from_bytes(data[len(SIGNATURE) : len(SIGNATURE) + 4], "big")
    extension = int.from_bytes(data[len(SIGNATURE) + 4 : _HEADER_FIXED], "big", signed=True)
    if flags & _CRITICAL_FLAGS:
        raise CopyFormatError(f"binary COPY with unsupported header flags {flags:#x}")
    start, stop = _HEADER_FIXED + extension, len(data) - len(_TRAILER)
    if extension < 0 or stop < start or not data.endswith(_TRAILER):
        raise CopyFormatError("binary COPY cut short")
    return start, stop


def _rows(data: bytes) -> np.ndarray:
    start, stop = copy_body(data)
    body = stop - start
    if body % ROW.itemsize:
        raise CopyFormatError("binary COPY of another row shape, or cut short")
    return np.frombuffer(data, dtype=ROW, count=body // ROW.itemsize, offset=start)
