"""A batch of candles in columns, as the bulk writers need them, and a fast reader of plain CSV.

``CandleBatch`` holds open times as integer milliseconds and every value as its *canonical
text*: the shortest plain decimal (``format(value.normalize(), "f")``), which is exactly what the
``Money`` column stores on SQLite and what PostgreSQL's COPY reads as the same NUMERIC. Building
``CandleData`` (a datetime and five ``Decimal`` per row) only to print them again cost more than
storing them.

``parse_plain_csv`` reads a block of data lines in the common shape (unsigned plain decimals, no
blanks, at most 18 decimal places) with a handful of C-level passes over the whole block. It
proves every check the row-by-row reader makes, or answers ``None``: the caller then reads the
same lines row by row, which finds the first problem and words it. Comparisons run on floats,
which are exact in one direction (rounding is monotonic, so ``float(a) < float(b)`` implies
``a < b``); rows whose floats tie are compared again as ``Decimal``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import cached_property
from itertools import chain, compress
from operator import ne

import numpy as np
import numpy.typing as npt

from autogrid.core.sqltypes import MONEY_PRECISION, MONEY_SCALE
from autogrid.exchanges.types import CandleData
from autogrid.market_data.series import SeriesChecker
from autogrid.market_data.timeframes import datetime_to_ms

MAX_INTEGER_DIGITS = MONEY_PRECISION - MONEY_SCALE
# Before 1973-03-03 in milliseconds: such a timestamp is almost surely seconds (see parsers).
MIN_PLAUSIBLE_MS = 100_000_000_000
MAX_DATETIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last a datetime holds

# Atomic and possessive throughout: a line matches in one pass or not at all (backtracking made
# the check slower than parsing, and a refused block only means the row-by-row read).
_PLAIN = rf"(?>0|[1-9][0-9]{{0,{MAX_INTEGER_DIGITS - 1}}}+)(?:\.[0-9]{{1,{MONEY_SCALE}}}+)?+"
_PLAIN_BLOCK = re.compile(rf"(?:[1-9][0-9]{{11,14}}+(?:,{_PLAIN}){{5}}+\n)*+")

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CandleBatch:
    """Candles of one series in strictly increasing time, values as exact decimal text.

    The text is a plain decimal (``canonical``: also the shortest one, as SQLite stores it).
    """

    ts_ms: Int64Array
    open: list[str]
    high: list[str]
    low: list[str]
    close: list[str]
    volume: list[str]
    canonical: bool = True
    # False: every check of the row-by-row reader was made but those of the prices (``low > 0``,
    # ``low <= min(open, close)``, ``high >= max(open, close)``), left to the database
    # (``CandleReader.batches``' ``check_prices``).
    prices_checked: bool = True

    def __len__(self) -> int:
        return len(self.ts_ms)

    @property
    def columns(self) -> tuple[list[str], ...]:
        return (self.open, self.high, self.low, self.close, self.volume)

    def canonical_columns(self) -> tuple[list[str], ...]:
        if self.canonical:
            return self.columns
        return tuple(_canonical_plain(column) for column in self.columns)

    def iso_utc(self) -> list[str]:
        """Open times as ISO 8601 text ending in Z, which PostgreSQL reads as timestamptz."""
        moments = self.ts_ms.astype("datetime64[ms]")
        return list(np.datetime_as_string(moments, unit="ms", timezone="UTC").tolist())

    @cached_property
    def copy_rows(self) -> str:
        """The rows as COPY text (tab-separated ``ts open high low close volume`` lines).

        Cached: the importer builds it in its reader thread, while the database writes the
        previous batch.
        """
        rows = zip(self.iso_utc(), *self.columns, strict=True)
        return "".join(f"{ts}\t{o}\t{h}\t{lo}\t{c}\t{v}\n" for ts, o, h, lo, c, v in rows)

    def sqlite_datetimes(self) -> list[str]:
        """Open times as SQLAlchemy stores a naive UTC datetime on SQLite (microseconds)."""
        microseconds = self.ts_ms.astype("datetime64[ms]").astype("datetime64[us]")
        stamps = np.datetime_as_string(microseconds, unit="us")
        # Only the date/time separator is a "T": one replace over the joined text.
        return "\n".join(stamps.tolist()).replace("T", " ").split("\n")

    @classmethod
    def joined(cls, parts: Sequence[CandleBatch]) -> CandleBatch:
        """One batch of ``parts``, each after the one before (as a reader yields them). Their
        COPY text, where each built it already, is joined rather than built again."""
        if len(parts) == 1:
            return parts[0]
        open_, high, low, close, volume = (
            list(chain.from_iterable(part.columns[at] for part in parts)) for at in range(5)
        )
        ts_ms = np.concatenate([part.ts_ms for part in parts])
        canonical = all(part.canonical for part in parts)
        checked = all(part.prices_checked for part in parts)
        batch = cls(ts_ms, open_, high, low, close, volume, canonical, checked)
        if all("copy_rows" in vars(part) for part in parts):
            # Where ``cached_property`` keeps it (the instance's dict: the frozen dataclass's
            # ``__setattr__`` is not involved, as for the property's own caching).
            vars(batch)["copy_rows"] = "".join(part.copy_rows for part in parts)
        return batch

    @classmethod
    def from_candles(cls, candles: Sequence[CandleData]) -> CandleBatch:
        """One key once, the last one winning, in time order."""
        unique = sorted({candle.ts: candle for candle in candles}.items())
        values = [_canonical_values(candle) for _, candle in unique]
        columns: list[list[str]] = [list(column) for column in zip(*values, strict=True)]
        if not columns:
            columns = [[] for _ in range(5)]
        ts = np.array([datetime_to_ms(ts) for ts, _ in unique], dtype=np.int64)
        open_, high, low, close, volume = columns
        return cls(ts, open_, high, low, close, volume)


def canonical_text(value: Decimal) -> str:
    """What the ``Money`` column stores on SQLite; a finite value is assumed."""
    with localcontext() as context:
        # Room for every digit NUMERIC(38, 18) holds (the default 28 digits would round).
        context.prec = MONEY_PRECISION + 2
        return format(value.normalize(), "f")


def _canonical_values(candle: CandleData) -> tuple[str, str, str, str, str]:
    return (
        canonical_text(candle.open),
        canonical_text(candle.high),
        canonical_text(candle.low),
        canonical_text(candle.close),
        canonical_text(candle.volume),
    )


def parse_plain_csv(
    block: str, series: SeriesChecker, *, check_prices: bool = True
) -> CandleBatch | None:
    """The candles of ``block`` (whole data lines, each ending in a newline), or ``None``.

    ``None`` when any line is not in the plain shape or any check fails; ``series`` is then left
    as it was. On success ``series`` has taken every open time. Not to ``check_prices``: those
    checks are left out (and the prices' parse they need, most of this one's time), the batch
    marked so.
    """
    if not block or _PLAIN_BLOCK.fullmatch(block) is None:
        return None
    fields = block.replace("\n", ",").split(",")
    fields.pop()  # after the last newline
    # The shape proves every open time is 12 to 15 digits: numpy's own parse reads them exactly.
    ts_ms = np.array(fields[0::6], dtype=np.int64)
    texts = [fields[column::6] for column in range(1, 6)]
    if check_prices and not _prices_consistent(texts):
        return None
    if ts_ms.min() < MIN_PLAUSIBLE_MS or ts_ms.max() > MAX_DATETIME_MS:
        return None
    if not series.check_batch(ts_ms):
        return None
    o_text, h_text, l_text, c_text, v_text = texts
    return CandleBatch(
        ts_ms, o_text, h_text, l_text, c_text, v_text, canonical=False, prices_checked=check_prices
    )


def _prices_consistent(texts: list[list[str]]) -> bool:
    """low > 0, high >= max(open, close), low <= min(open, close): exactly, as Decimal."""
    # The prices only: the shape has no sign, so no volume is negative (a fifth of the parse).
    open_, high, low, close = (
        np.fromiter(map(float, column), dtype=np.float64, count=len(column)) for column in texts[:4]
    )
    # A plain decimal of at most 18 places is at least 1e-18, which no float rounds to zero.
    if (low <= 0).any():
        return False
    if (high < open_).any() or (high < close).any() or (low > open_).any() or (low > close).any():
        return False
    o_text, h_text, l_text, c_text, _ = texts
    # Where the floats are equal the decimals may still differ: compare those exactly.
    return (
        _not_below(h_text, o_text, high == open_)
        and _not_below(h_text, c_text, high == close)
        and _not_below(o_text, l_text, low == open_)
        and _not_below(c_text, l_text, low == close)
    )


def _not_below(upper: list[str], lower: list[str], tied: npt.NDArray[np.bool_]) -> bool:
    rows = np.flatnonzero(tied).tolist()
    # Ties are common (a minute's high is often its open), the same text nearly always: those
    # are left out by a C-level pass, and only the rest is compared as Decimal.
    differing = compress(rows, map(ne, map(upper.__getitem__, rows), map(lower.__getitem__, rows)))
    return all(Decimal(upper[row]) >= Decimal(lower[row]) for row in differing)


def _canonical_plain(column: list[str]) -> list[str]:
    # A plain decimal without leading zeros is canonical once its fraction's zeros are gone.
    return [
        text.rstrip("0").rstrip(".") if text[-1] == "0" and "." in text else text for text in column
    ]
