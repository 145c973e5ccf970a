"""Candle timeframes ("1m", "4h", "1w") as exact millisecond steps, and where candles may open.

Pure: no I/O, no framework imports, so the backtest core can use it too. Only canonical names are
accepted ("1h", never "60m"): the timeframe is part of the stored key, and two spellings of one
timeframe would silently split a series in two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS

UNIT_MS: dict[str, int] = {"s": SECOND_MS, "m": MINUTE_MS, "h": HOUR_MS, "d": DAY_MS, "w": WEEK_MS}
# Largest unit first: the canonical name of a step uses the largest unit that divides it. Weeks
# are left out because "7d" (epoch-aligned) and "1w" (Monday-aligned) are different series.
_CANONICAL_UNITS = ("d", "h", "m", "s")

# 1970-01-01 was a Thursday; exchanges open weekly candles on Monday 00:00 UTC (1970-01-05).
WEEK_ANCHOR_MS = 4 * DAY_MS

_TIMEFRAME_RE = re.compile(r"([1-9][0-9]{0,4})([smhdw])")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidTimeframe(ValueError):
    """The text is not a supported timeframe (a plain ValueError: this module stays pure)."""


@dataclass(frozen=True, slots=True)
class Timeframe:
    name: str
    ms: int
    anchor_ms: int = 0  # candle open times are anchor_ms + k * ms

    def is_aligned(self, ts_ms: int) -> bool:
        return (ts_ms - self.anchor_ms) % self.ms == 0

    def floor(self, ts_ms: int) -> int:
        """Open time of the candle that contains ``ts_ms``."""
        return ts_ms - (ts_ms - self.anchor_ms) % self.ms

    def missing_between(self, previous_ms: int, next_ms: int) -> int:
        """How many candles are missing strictly between two aligned open times."""
        return (next_ms - previous_ms) // self.ms - 1

    def __str__(self) -> str:
        return self.name


def parse_timeframe(text: str) -> Timeframe:
    """Parse "1m", "15m", "4h", "1d", "1w"... (seconds to weeks); raise ``InvalidTimeframe``."""
    match = _TIMEFRAME_RE.fullmatch(text)
    if match is None:
        if re.fullmatch(r"[0-9]+[M]", text):
            raise InvalidTimeframe(
                f"timeframe {text!r}: monthly candles are not supported (months differ in length)"
            )
        raise InvalidTimeframe(
            f"timeframe {text!r} is not valid; use a positive number and one of s, m, h, d, w "
            "(e.g. 1m, 15m, 4h, 1d, 1w)"
        )
    amount, unit = int(match.group(1)), match.group(2)
    step_ms = amount * UNIT_MS[unit]
    if unit == "w":
        return Timeframe(text, step_ms, WEEK_ANCHOR_MS)
    canonical = canonical_name(step_ms)
    if canonical != text:
        raise InvalidTimeframe(f"timeframe {text!r} must be written {canonical!r}")
    return Timeframe(text, step_ms)


def canonical_name(step_ms: int) -> str:
    for unit in _CANONICAL_UNITS:
        if step_ms % UNIT_MS[unit] == 0:
            return f"{step_ms // UNIT_MS[unit]}{unit}"
    raise InvalidTimeframe(f"{step_ms} ms is not a whole number of seconds")


def timeframe_to_ms(text: str) -> int:
    return parse_timeframe(text).ms


def ms_to_datetime(ts_ms: int) -> datetime:
    # Integer arithmetic: fromtimestamp(ms / 1000) would go through a binary float.
    return EPOCH + timedelta(milliseconds=ts_ms)


def datetime_to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are refused; pass an aware UTC datetime")
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND_MS + delta.microseconds // 1_000


def format_ms(ts_ms: int) -> str:
    """Short ISO-8601 UTC form for messages, e.g. 2018-02-08T00:00Z."""
    moment = ms_to_datetime(ts_ms)
    if moment.second or moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
            f".{moment.microsecond // 1000:03d}Z" if moment.microsecond else "Z"
        )
    return moment.strftime("%Y-%m-%dT%H:%MZ")
