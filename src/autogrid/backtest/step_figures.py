"""A sweep run's candle figures from its balance steps: ``metrics.candle_figures``'s deepest
drawdown and exposure, and the equity at any closes asked for, to the last bit, without a pass
over every candle.

Between two balance steps (a segment) the balances are constant and the equity at a close is
``quote + base * close``. In cash (base zero) that is the quote itself on every candle of the
segment: its deepest drawdown is one ratio, against the peak it starts with (or itself, should
it set a new one), and it holds no position. Holding base, the equity is a rising function of
the close (``base * close`` and ``quote + ...`` each rounded, and rounding keeps order): its
highest and lowest are those of the segment's highest and lowest close, read from a table of
the candles made once per candle series (``CloseRanges``). A segment whose highest equity sets
no new peak keeps the peak it starts with, and its deepest ratio is that of its lowest equity;
only the segments setting a new peak (few: a sweep's runs are mostly in cash, or below their
first peak) are followed candle by candle: their running peak is the running maximum over their
candles, raised to the one each starts with (what that maximum brings from earlier segments is
never above it). Exposure likewise: a segment worth ``min_value`` at its lowest close counts
whole, one not worth it at its highest not at all.

Each ratio, equity and comparison is the same float operation on the same operands as the
passes over every candle, and minima and maxima are exact: the same bits. What this arithmetic
does not cover (a close not positive or not finite, a balance negative or not finite, a first
equity not positive) gets ``None`` and takes those passes; so does a run setting new peaks on a
large share of its candles (the passes' blocks are then cheaper), from the balances converted
here.

The passes over every candle were most of a sweep run's figures: about 2.5 ms of a year of 1m
candles, for a run in cash 85 % of the time.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray

from autogrid.backtest.metrics import (
    STEP_AT,
    STEP_BASE,
    STEP_QUOTE,
    Floats,
    Indices,
    decimal_floats,
    spans_figures,
)

BLOCK = 16  # candles per block of ``CloseRanges``
# Past this share of the candles in segments setting new peaks, the passes over every candle.
RISING_SHARE = 0.25

# The last close series' table (``CloseRanges.of``): a weak reference, so it is not kept alive.
_ranges_memo: tuple[weakref.ref[Floats], CloseRanges | None] | None = None


@dataclass(frozen=True, slots=True)
class StepFigures:
    """What a sweep's run needs of every candle, kept per segment (``step_figures``)."""

    max_drawdown_pct: float
    exposure_pct: float
    starts: Indices  # the first candle of each segment (the starting balances' first)
    quote: Floats  # each segment's balances
    base: Floats
    close: Floats

    def equity_at(self, candles: Indices) -> Floats:
        """The equity at these candles' closes, as ``quote + base * close`` over every candle
        makes it: the balances of the last step at or before each."""
        return _equity_at(self.starts, self.quote, self.base, self.close, candles)


def _equity_at(
    starts: Indices, quote: Floats, base: Floats, close: Floats, candles: Indices
) -> Floats:
    segment = np.searchsorted(starts, candles, side="right") - 1
    equity: Floats = quote[segment] + base[segment] * close[candles]
    return equity


def step_figures(
    steps: Sequence[tuple[int, Decimal, Decimal]],
    initial_quote: Decimal,
    initial_base: Decimal,
    close: Floats,
    min_base: float,
    min_value: float,
    *,
    rising_share: float = RISING_SHARE,
    table: CloseRanges | None = None,
) -> StepFigures | None:
    """``metrics.candle_figures``'s deepest drawdown and exposure, and its equity on demand
    (``StepFigures.equity_at``), the same bits; ``None`` where the module says. ``table``: the
    closes' (``CloseRanges.of`` if not given; one given must be of these very closes, all
    positive and finite)."""
    count = close.shape[0]
    table = CloseRanges.of(close) if table is None else table
    if table is None:
        return None
    quote = decimal_floats((initial_quote, *map(STEP_QUOTE, steps)))  # (see ``STEP_AT``)
    base = decimal_floats((initial_base, *map(STEP_BASE, steps)))
    starts = np.empty(len(steps) + 1, dtype=np.intp)
    starts[0] = 0
    starts[1:] = np.fromiter(map(STEP_AT, steps), dtype=np.intp, count=len(steps))
    spans = np.diff(starts, append=count)  # the candles each segment holds
    if (spans < 0).any():  # not sorted, or past the end: the plain passes raise
        return None
    if not (np.isfinite(quote).all() and np.isfinite(base).all()) or (base < 0).any():
        return None
    if not _equity_at(starts, quote, base, close, np.zeros(1, dtype=np.intp))[0] > 0:
        return None  # the plain passes mask a peak at or below zero
    filled = spans > 0  # a later step on the same candle leaves the earlier none
    held = filled & (base != 0)
    cash = filled & (base == 0)
    # In cash, ``base * close`` is the base itself (a zero, its sign kept, the close positive).
    cash_equity = quote[cash] + base[cash]
    segments = _Held(starts[held], spans[held], quote[held], base[held])
    low, high = table.ranges(close, segments.starts, segments.starts + segments.lengths - 1)
    lowest = segments.quote + segments.base * low
    highest = segments.quote + segments.base * high
    top = np.full(quote.shape[0], -np.inf)  # each segment's highest equity
    top[cash] = cash_equity
    top[held] = highest
    if not np.isfinite(top[filled]).all():
        return None
    entry = np.empty_like(top)  # the peak each segment starts with: the highest before it
    entry[0] = -np.inf
    np.maximum.accumulate(top[:-1], out=entry[1:])
    held_entry = entry[held]
    level = highest <= held_entry
    rising = segments.pick(~level)
    if int(rising.lengths.sum()) > rising_share * count:
        passes = spans_figures(spans, quote, base, close, min_base, min_value)
        deepest, exposure = passes.max_drawdown_pct, passes.exposure_pct
        return StepFigures(deepest, exposure, starts, quote, base, close)
    # In cash, the peak is the one the segment starts with, or its own equity.
    cash_peak = np.maximum(entry[cash], cash_equity)
    # Held without a new peak: the one it starts with all along, the lowest equity deepest.
    ratios = [_ratio(cash_peak, cash_equity), _ratio(held_entry[level], lowest[level])]
    equity = rising.equity(close)
    peak = np.maximum.accumulate(equity)
    np.maximum(peak, rising.each(held_entry[~level]), out=peak)
    ratios.append(_ratio(peak, equity))
    deepest = max(float(ratio.max(initial=0.0)) for ratio in ratios) * 100.0
    exposure = _exposed(segments, low, high, close, min_base, min_value) / count * 100.0
    return StepFigures(deepest, exposure, starts, quote, base, close)


def _ratio(peak: Floats, equity: Floats) -> Floats:
    """``(peak - equity) / peak``, as the passes over every candle divide."""
    ratio = peak - equity
    ratio /= peak
    return ratio


@dataclass(frozen=True, slots=True)
class _Held:
    """Segments holding base: their first candles, lengths (all positive) and balances."""

    starts: Indices
    lengths: Indices
    quote: Floats
    base: Floats

    def pick(self, which: NDArray[np.bool_]) -> _Held:
        return _Held(self.starts[which], self.lengths[which], self.quote[which], self.base[which])

    def each(self, values: Floats) -> Floats:
        """A value per segment, repeated over its candles (as ``candles`` lists them)."""
        repeated: Floats = np.repeat(values, self.lengths)
        return repeated

    def candles(self) -> Indices:
        """The segments' candles, one segment after the other."""
        return _runs(self.starts, self.lengths)

    def value(self, close: Floats) -> Floats:
        """``base * close`` at each of the segments' candles."""
        value = self.each(self.base)
        value *= close[self.candles()]
        return value

    def equity(self, close: Floats) -> Floats:
        """``quote + base * close`` at each of the segments' candles."""
        equity = self.value(close)
        equity += self.each(self.quote)
        return equity


def _runs(starts: Indices, lengths: Indices) -> Indices:
    """``starts[k] .. starts[k] + lengths[k] - 1`` for each ``k``, one run after the other."""
    offsets = np.cumsum(lengths) - lengths
    indices: Indices = np.arange(int(lengths.sum()), dtype=np.intp)
    indices += np.repeat(starts - offsets, lengths)
    return indices


def _exposed(
    segments: _Held, low: Floats, high: Floats, close: Floats, min_base: float, min_value: float
) -> int:
    """The held candles with a position worth selling: not dust (``min_base``), valued at least
    ``min_value``. The value rises with the close: a segment counts whole if it is worth that at
    its lowest close, not at all if not at its highest; the others candle by candle."""
    worth = segments.base >= min_base  # positive too: held
    whole = worth & (segments.base * low >= min_value)
    some = worth & ~whole & (segments.base * high >= min_value)
    by_candle = np.count_nonzero(segments.pick(some).value(close) >= min_value)
    return int(segments.lengths[whole].sum()) + int(by_candle)


@dataclass(frozen=True, slots=True)
class CloseRanges:
    """Any run of candles' lowest and highest close in a few reads, for a series whose closes
    are all positive and finite: within blocks of ``block`` candles, the lowest and highest from
    each candle to its block's end (``*_on``) and from its block's start (``*_to``); across
    blocks, a sparse table of the blocks' own (row ``j``: over ``2**j`` blocks from each). A run
    within one block is read candle by candle (fewer than ``block``)."""

    block: int
    low_on: Floats
    high_on: Floats
    low_to: Floats
    high_to: Floats
    low_table: NDArray[np.float64]
    high_table: NDArray[np.float64]

    @staticmethod
    def of(close: Floats) -> CloseRanges | None:
        """The table of these closes, ``None`` if one is not positive or not finite;
        remembered for the last series seen (by identity, while it lives): every run of a
        sweep asks of the same candles, which are not changed once loaded."""
        global _ranges_memo
        memo = _ranges_memo
        if memo is not None and memo[0]() is close:
            return memo[1]
        usable = close.shape[0] > 0 and bool(np.isfinite(close).all() and (close > 0).all())
        table = CloseRanges.made(close) if usable else None
        _ranges_memo = (weakref.ref(close), table)
        return table

    @staticmethod
    def made(close: Floats, block: int = BLOCK) -> CloseRanges:
        """The table of these closes (not checked), by blocks of ``block`` candles."""
        count = close.shape[0]
        padded = np.empty(-(-count // block) * block, dtype=np.float64)
        padded[:count] = close
        padded[count:] = close[-1]  # within the last candle's block: changes no range's
        rows = padded.reshape(-1, block)
        # Accumulated in place of the padded tables (those to the block's end backwards, into
        # a reversed view): no copy; the padding's own values are never read.
        low_on, high_on, low_to, high_to = (np.empty_like(padded) for _ in range(4))
        for table, pick in ((low_on, np.minimum), (high_on, np.maximum)):
            pick.accumulate(rows[:, ::-1], axis=1, out=table.reshape(rows.shape)[:, ::-1])
        np.minimum.accumulate(rows, axis=1, out=low_to.reshape(rows.shape))
        np.maximum.accumulate(rows, axis=1, out=high_to.reshape(rows.shape))
        low_table = _sparse(rows.min(axis=1), np.minimum)
        high_table = _sparse(rows.max(axis=1), np.maximum)
        return CloseRanges(block, low_on, high_on, low_to, high_to, low_table, high_table)

    def ranges(self, close: Floats, first: Indices, last: Indices) -> tuple[Floats, Floats]:
        """The lowest and highest of ``close`` (the closes the table was made of) on each run
        ``first[k] .. last[k]`` (both included, ``first[k] <= last[k]``)."""
        low = np.empty(first.shape[0], dtype=np.float64)
        high = np.empty(first.shape[0], dtype=np.float64)
        block_first, block_last = first // self.block, last // self.block
        within = block_first == block_last
        # Within a block: candle by candle.
        starts, lengths = first[within], last[within] - first[within] + 1
        if starts.shape[0]:
            closes = close[_runs(starts, lengths)]
            offsets = np.cumsum(lengths) - lengths
            low[within] = np.minimum.reduceat(closes, offsets)
            high[within] = np.maximum.reduceat(closes, offsets)
        # Across blocks: the first block's end, the last block's start, and whole blocks between.
        across = ~within
        head, tail = first[across], last[across]
        run_low = np.minimum(self.low_on[head], self.low_to[tail])
        run_high = np.maximum(self.high_on[head], self.high_to[tail])
        inner_first, inner_last = block_first[across] + 1, block_last[across] - 1
        inner = inner_last >= inner_first
        one, end = inner_first[inner], inner_last[inner]
        row = np.frexp(end - one + 1)[1] - 1  # the largest power of two blocks within
        two = end - np.left_shift(1, row) + 1  # that many blocks ending at the last
        inner_low = np.minimum(self.low_table[row, one], self.low_table[row, two])
        inner_high = np.maximum(self.high_table[row, one], self.high_table[row, two])
        run_low[inner] = np.minimum(run_low[inner], inner_low)
        run_high[inner] = np.maximum(run_high[inner], inner_high)
        low[across], high[across] = run_low, run_high
        return low, high


def _sparse(values: Floats, pick: np.ufunc) -> NDArray[np.float64]:
    """Row ``j``, column ``i``: ``pick`` over ``values[i : i + 2**j]`` (where that fits)."""
    rows = [values]
    width = 1
    while 2 * width <= values.shape[0]:
        before = rows[-1]
        row = before.copy()
        pick(before[:-width], before[width:], out=row[:-width])
        rows.append(row)
        width *= 2
    return np.stack(rows)
