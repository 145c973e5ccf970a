"""Candle columns from a binary COPY of ``(ts, open, high, low, close, volume)`` as NUMERIC.

Casting the values to ``float8`` on the server cost it four times the scan itself: PostgreSQL
turns each NUMERIC into text and parses that back (``numeric_float8``), for every value of every
candle a worker loads. The values are sent as they are stored instead, and turned into floats
here, to the same bits:

* A NUMERIC travels as its base-10000 digits (``ndigits``, ``weight``, ``sign``, ``dscale``, then
  the digits; trailing zero digits dropped), so a row's width depends on its values. Rows are
  found by their fixed start (6 fields, then an 8-byte timestamp); the rows so found are taken
  only if, from the first, each row's fields end exactly where the next found row starts and the
  last ends at the trailer: the chain of real rows then passes through every position found, so
  a look-alike inside a value would have broken it.
* A value of at most 4 digits (16 decimal digits) is an integer ``M`` below 2**53 times a power
  of ten ``10**e`` with ``|e| <= 22``: both exact doubles, so one multiplication or division
  rounds it once, correctly, as the server's text-to-float8 parse does (the classic fast path
  of correctly rounded decimal conversion). The rare other values (more significant digits, a
  NaN or an infinity) are converted one by one through ``Decimal``, also correctly rounded.

``numeric_candle_arrays`` returns None when the bytes are not that (another row shape, a NULL,
too many slow values to be worth it): the caller then asks the server for ``float8`` values.
Format: https://www.postgresql.org/docs/current/sql-copy.html ("Binary Format") and
PostgreSQL's ``numeric_send``.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from autogrid.market_data.binary_copy import (
    VALUE_FIELDS,
    CopyFormatError,
    copy_body,
    ms_from_pg_microseconds,
)
from autogrid.trading.candles import CandleArrays

ROW_START = np.frombuffer(b"\x00\x06\x00\x00\x00\x08", dtype=np.uint8)  # 6 fields, 8-byte ts
_FAST_DIGITS = 4  # 10000**4 = 1e16: at most 4 digits may still be >= 2**53, checked
_HEAD = 4 + 8 + 2 * _FAST_DIGITS  # a value's length, its four int16 heads, its first digits
_EXACT_INTEGER = 2**53
_POWERS = 10.0 ** np.arange(23)  # exact doubles, 1 to 1e22
_POSITIVE, _NEGATIVE, _NAN, _INFINITY, _MINUS_INFINITY = 0x0000, 0x4000, 0xC000, 0xD000, 0xF000
_NO_INDICES = np.zeros(0, dtype=np.intp)
SLOW_SHARE = 0.01  # beyond this share of values converted one by one, the server casts instead


def numeric_candle_arrays(data: bytes) -> CandleArrays | None:
    """Columns of a whole binary COPY of (timestamptz, numeric x5), in its row order; None if
    the bytes are of another shape (see the module). Raises ``CopyFormatError`` on bytes that
    are no binary COPY at all."""
    raw = np.frombuffer(data, dtype=np.uint8)
    start, stop = copy_body(data)
    if start == stop:
        return CandleArrays.empty()
    rows = _row_starts(raw, start, stop)
    if rows is None:
        return None
    # Reads up to _HEAD bytes from each value's start: padded, so the last row's stay inside.
    padded = np.zeros(len(raw) + _HEAD, dtype=np.uint8)
    padded[: len(raw)] = raw
    at = rows + 14  # after the field count (2), the timestamp's length (4) and itself (8)
    columns: list[NDArray[np.float64]] = []
    slow: list[tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.int64]]] = []
    for _ in VALUE_FIELDS:
        fields = at
        values, left, at = _values(padded, fields)
        if values is None:
            return None
        columns.append(values)
        slow.append((values, left, fields[left]))
    if not np.array_equal(at[:-1], rows[1:]) or at[-1] != stop:
        return None  # a found position was no row's start: leave it to the server
    if sum(len(left) for _, left, _ in slow) > SLOW_SHARE * len(rows) * len(VALUE_FIELDS):
        return None
    for values, left, positions in slow:  # only now: they are known to be values
        for index, position in zip(left.tolist(), positions.tolist(), strict=True):
            values[index] = _slow_value(data, position)
    ts = np.ascontiguousarray(_gather(padded, rows + 6, 8)).view(">i8")[:, 0].astype(np.int64)
    return CandleArrays(ms_from_pg_microseconds(ts), *columns)


def _row_starts(raw: NDArray[np.uint8], start: int, stop: int) -> NDArray[np.int64] | None:
    """Every position in the body where a row could start (the real ones and look-alikes)."""
    body = raw[start:stop]
    # The rarest byte of the pattern first, then the others at those positions only.
    sixes = np.flatnonzero(body[1 : len(body) - 4] == 6)
    found = sixes
    for offset, byte in enumerate(ROW_START):
        if offset != 1:
            found = found[body[found + offset] == byte]
    if len(found) == 0 or found[0] != 0:
        return None
    return found.astype(np.int64) + start


def _gather(padded: NDArray[np.uint8], at: NDArray[np.int64], width: int) -> NDArray[np.uint8]:
    """``width`` bytes from each position, one row each (contiguous: viewable as any type)."""
    # Clipped: a look-alike's garbage lengths may point anywhere (the chain check drops it).
    inside = np.clip(at, 0, len(padded) - width)
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    return windows[inside]


def _values(
    padded: NDArray[np.uint8], at: NDArray[np.int64]
) -> tuple[NDArray[np.float64] | None, NDArray[np.intp], NDArray[np.int64]]:
    """The NUMERIC field starting at each of ``at`` as float64 (those of ``slow`` left to
    ``_slow_value``), and where the next field begins."""
    head = _gather(padded, at, _HEAD)
    length = head[:, :4].view(">i4")[:, 0]
    shorts = head[:, 4:].view(">u2")  # ndigits, weight, sign, dscale, then the first digits
    ndigits = shorts[:, 0].astype(np.int32)
    following = at + 4 + length
    if (length != 8 + 2 * ndigits).any():
        return None, _NO_INDICES, following  # a NULL (-1), or no NUMERIC
    # As floats: exact while below 2**53; at or above it stays so, and is left to the slow way.
    mantissa = shorts[:, 4].astype(np.float64)
    for digit in range(1, _FAST_DIGITS):
        more = shorts[:, 4 + digit] + mantissa * 10_000.0
        np.copyto(mantissa, more, where=ndigits > digit)
    exponent = 4 * (shorts[:, 1].view(">i2").astype(np.int32) - ndigits + 1)
    sign = shorts[:, 2]
    negative = sign == _NEGATIVE
    zero = ndigits == 0
    fast = (negative | (sign == _POSITIVE)) & (ndigits <= _FAST_DIGITS)
    fast &= zero | ((mantissa < _EXACT_INTEGER) & (np.abs(exponent) <= 22))
    scale = np.abs(exponent)
    np.minimum(scale, 22, out=scale)
    power = _POWERS[scale]
    values: NDArray[np.float64] = np.divide(mantissa, power)
    np.multiply(mantissa, power, out=values, where=exponent >= 0)
    values[zero] = 0.0
    np.negative(values, out=values, where=negative & ~zero)
    return values, np.flatnonzero(~fast), following


def _slow_value(data: bytes, at: int) -> float:
    """One NUMERIC through ``Decimal`` (exact), then to the nearest double, as the server's
    cast; NaN and the infinities as themselves."""
    length = int.from_bytes(data[at : at + 4], "big", signed=True)
    head = data[at + 4 : at + 12]
    ndigits, weight, sign = (int.from_bytes(head[i : i + 2], "big") for i in (0, 2, 4))
    if sign == _NAN:
        return float("nan")
    if sign in (_INFINITY, _MINUS_INFINITY):
        return float("inf") if sign == _INFINITY else float("-inf")
    if sign not in (_POSITIVE, _NEGATIVE) or length != 8 + 2 * ndigits:
        raise CopyFormatError(f"a NUMERIC with sign {sign:#x} and length {length}")
    weight -= 0x10000 if weight >= 0x8000 else 0
    digits = data[at + 12 : at + 12 + 2 * ndigits]
    groups = (int.from_bytes(digits[i : i + 2], "big") for i in range(0, len(digits), 2))
    text = "".join(f"{group:04d}" for group in groups)
    if not text:
        return 0.0
    exponent = 4 * (weight - ndigits + 1)
    return float(Decimal(f"{'-' if sign == _NEGATIVE else ''}{text}E{exponent}"))
