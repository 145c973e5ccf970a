"""Performance arithmetic on float arrays: equity, drawdown, daily ratios, downsampling.

Conventions (the API documents them too):

* **Equity** is marked to market at every candle close: quote + base x close, with the balances of
  the last balance step at or before that candle (``np.searchsorted``: no loop over candles).
* **Drawdown** at a candle is how far equity is below its running peak, in percent (>= 0).
* **Daily returns**: equity at the last close of each UTC calendar day (by candle open time, so a
  daily candle counts on its own day); days without candles (exchange outages) keep the previous
  day's equity, so every calendar day counts. The first return runs from the starting equity.
* **Sharpe** = mean / sample standard deviation of daily returns x sqrt(365); **Sortino** = mean /
  downside deviation x sqrt(365), the downside deviation being the root mean square of the
  negative daily returns over all days (target 0). Risk-free rate 0; crypto trades 365 days a
  year. ``None`` when undefined (fewer than two days, or no variation / no losing day).
* **CAGR** compounds the total return over the span between the first and the last close, with
  365-day years; ``None`` when it overflows (a run of minutes annualised).
* **Annualised figures** (Sharpe, Sortino, CAGR, Calmar) need a span, first close to last close,
  of at least ``MIN_ANNUALISED_DAYS`` (90 days, a quarter of a year); a shorter run leaves them
  ``None`` and says why. Scaled up to a year, a few days of returns give figures that mean
  nothing: a 3-day run showed a Sharpe ratio of 30.6 and a CAGR of -88 % for a loss of 1.7 %.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress
from operator import itemgetter

import numpy as np
from numpy.typing import NDArray

DAY_MS = 86_400_000
DAYS_PER_YEAR = 365
MAX_CURVE_POINTS = 2_000
MIN_ANNUALISED_DAYS = 90

Floats = NDArray[np.float64]
Indices = NDArray[np.intp]

# A balance step's fields (candle, quote, base), read column by column with these rather than
# ``zip(*steps)``: that makes an iterator per step, objects the garbage collector tracks, and
# thousands of them set off its passes over the whole heap (about 2 ms of a sweep run's figures
# made right after its engine run, which leaves many objects).
STEP_AT, STEP_QUOTE, STEP_BASE = itemgetter(0), itemgetter(1), itemgetter(2)

# The last candle series' day ends (``day_ends``): a weak reference, so it is not kept alive.
_day_ends_memo: tuple[weakref.ref[NDArray[np.int64]], Indices] | None = None


def balances_at_closes(
    steps: Sequence[tuple[int, Decimal, Decimal]],
    initial_quote: Decimal,
    initial_base: Decimal,
    candles: int,
) -> tuple[Floats, Floats]:
    """Quote and base held at each candle's close, from the engine's balance steps."""
    if not steps:
        return np.full(candles, float(initial_quote)), np.full(candles, float(initial_base))
    count = len(steps) + 1  # columns, in C: no Python call per step
    quotes, bases = (initial_quote, *map(STEP_QUOTE, steps)), (initial_base, *map(STEP_BASE, steps))
    quote = np.fromiter(map(float, quotes), dtype=np.float64, count=count)
    base = np.fromiter(map(float, bases), dtype=np.float64, count=count)
    # Position 0 holds the starting balances, until the first step's candle; step k (candle
    # at[k]) is position k + 1 from its candle until the next step's (a later step on the same
    # candle leaves the earlier none). Repeating each position over its candles is one pass.
    bounds = np.array((0, *map(STEP_AT, steps), candles), dtype=np.intp)
    spans = np.diff(bounds)
    return np.repeat(quote, spans), np.repeat(base, spans)


@dataclass(frozen=True, slots=True)
class CandleFigures:
    """What a sweep's run needs of every candle (``candle_figures``)."""

    equity: Floats  # at each close
    max_drawdown_pct: float
    exposure_pct: float


def candle_figures(
    steps: Sequence[tuple[int, Decimal, Decimal]],
    initial_quote: Decimal,
    initial_base: Decimal,
    close: Floats,
    min_base: float,
    min_value: float,
    *,
    block: int = 512,
) -> CandleFigures:
    """``balances_at_closes``, the equity ``quote + base * close``, its ``max_drawdown_pct`` and
    the ``exposure_pct`` of those balances, to the last bit, in fewer passes over the candles:
    the base's value ``base * close`` is made once, straight into the padded table the drawdown
    reads, counted for the exposure there, then the quote added to it in place; which balances
    hold a position (not dust) is decided per step, not per candle; and base at zero (a bot in
    cash) is not converted.

    The conversions, one per step, were the largest part of a sweep run's figures: each formats
    the ``Decimal`` as text and parses it."""
    count = close.shape[0]
    quote = decimal_floats((initial_quote, *map(STEP_QUOTE, steps)))
    base = decimal_floats((initial_base, *map(STEP_BASE, steps)))
    bounds: Indices = np.array((0, *map(STEP_AT, steps), count), dtype=np.intp)
    spans = np.diff(bounds)  # the candles each step holds, as in ``balances_at_closes``
    return spans_figures(spans, quote, base, close, min_base, min_value, block=block)


def spans_figures(
    spans: Indices,
    quote: Floats,
    base: Floats,
    close: Floats,
    min_base: float,
    min_value: float,
    *,
    block: int = 512,
) -> CandleFigures:
    """``candle_figures`` of balances already converted: ``quote[k]`` and ``base[k]`` held on
    ``spans[k]`` candles, one after the other (position 0, the starting balances)."""
    count = close.shape[0]
    padded = np.empty(-(-count // block) * block, dtype=np.float64)
    equity = padded[:count]
    np.multiply(np.repeat(base, spans), close, out=equity)  # first the base's value
    position = (base >= min_base) & (base > 0)
    exposed = np.count_nonzero(np.repeat(position, spans) & (equity >= min_value))
    np.add(np.repeat(quote, spans), equity, out=equity)  # quote + base * close
    if equity[0] > 0:
        deepest = _deepest_padded(padded, count, block)
    else:
        deepest = float(drawdown_pct(equity).max())
    return CandleFigures(equity, deepest, int(exposed) / count * 100.0)


def decimal_floats(values: tuple[Decimal, ...]) -> Floats:
    """``float`` of each; the zeros without converting, their sign kept (``-0`` is ``-0.0``)."""
    if all(values):  # none is zero (quote balances, mostly): stops at the first zero
        return np.fromiter(map(float, values), dtype=np.float64, count=len(values))
    # Which are not zero, as bytes (0 or 1): a mask numpy reads in place and selectors
    # ``compress`` reads, with no list of booleans to convert (a fifth of a run's base balances,
    # half of them zeros).
    nonzero = bytes(map(bool, values))
    mask = np.frombuffer(nonzero, dtype=np.bool_)
    kept = int(np.count_nonzero(mask))
    floats = np.zeros(len(values), dtype=np.float64)
    floats[mask] = np.fromiter(map(float, compress(values, nonzero)), np.float64, count=kept)
    zero = ~mask
    signed = map(Decimal.is_signed, compress(values, zero.tobytes()))
    zeros = np.flatnonzero(zero)
    floats[zeros[np.fromiter(signed, dtype=np.bool_, count=zeros.shape[0])]] = -0.0
    return floats


def drawdown_pct(equity: Floats) -> Floats:
    peak = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, (peak - equity) / peak * 100.0, 0.0)
    return drawdown


def max_drawdown_pct(equity: Floats, *, block: int = 512) -> float:
    """``drawdown_pct(equity).max()`` to the last bit, in fewer passes over the candles: the
    peak only rises, so once positive it stays so (no mask), and the percent scaling is done
    on the deepest ratio alone (rounding keeps order: the largest product is the product of
    the largest).

    By blocks of ``block`` candles: in a block that sets no new high the peak is the one it
    started with, and its deepest ratio is that of its lowest equity (the same rounding keeps
    order), from a block minimum, a vectorised reduction. Only blocks that set a new high run
    the running maximum (an elementwise loop numpy cannot vectorise, most of the cost): a run
    in cash most of the year sets few."""
    if not equity[0] > 0:
        return float(drawdown_pct(equity).max())
    count = equity.shape[0]
    padded = np.empty(-(-count // block) * block, dtype=np.float64)
    padded[:count] = equity
    return _deepest_padded(padded, count, block)


def _deepest_padded(padded: Floats, count: int, block: int) -> float:
    """``max_drawdown_pct`` of ``padded[:count]`` (a whole number of ``block`` long, its first
    equity positive); the rest of ``padded`` is filled here with the last equity."""
    equity = padded[:count]
    # Padded with the last equity: its ratio is the last candle's own, so the deepest is kept.
    padded[count:] = equity[-1]
    table = padded.reshape(-1, block)
    rows = table.shape[0]
    highs = table.max(axis=1)
    if not np.isfinite(highs).all():  # NaN or infinity: the plain passes, as the curve's
        peak = np.maximum.accumulate(equity)
        plain = peak - equity
        plain /= peak
        return float(plain.max()) * 100.0
    # The peak each block starts with: the highest equity before it (the first's, its own).
    before = np.empty(rows, dtype=np.float64)
    before[0] = equity[0]
    np.maximum.accumulate(highs[:-1], out=before[1:])
    np.maximum(before[1:], equity[0], out=before[1:])
    level = highs <= before
    held = before[level]
    level_ratio = held - table.min(axis=1)[level]
    level_ratio /= held
    rising = table[~level]
    peak = np.maximum.accumulate(rising, axis=1)
    np.maximum(peak, before[~level, None], out=peak)
    ratio = peak - rising
    ratio /= peak
    deepest = max(float(level_ratio.max(initial=0.0)), float(ratio.max(initial=0.0)))
    return deepest * 100.0


def daily_equity(open_ms: NDArray[np.int64], equity: Floats) -> Floats:
    """Equity at the end of each UTC calendar day from the first candle's to the last one's."""
    values: Floats = equity[day_ends(open_ms)]
    return values


def day_ends(open_ms: NDArray[np.int64]) -> Indices:
    """For each calendar day, the position of the last candle at or before its end.

    Remembered for the last candle series seen (by identity, while it lives): it depends on the
    candles alone, and every run of a sweep over them asks again (per run it cost a tenth of
    the figures). Candle arrays are not changed once loaded."""
    global _day_ends_memo
    memo = _day_ends_memo
    if memo is not None and memo[0]() is open_ms:
        return memo[1]
    day = open_ms // DAY_MS
    last_of_day = np.flatnonzero(np.diff(day)) if day.shape[0] > 1 else np.empty(0, np.intp)
    last_of_day = np.append(last_of_day, day.shape[0] - 1)
    days_seen = day[last_of_day]
    calendar = np.arange(days_seen[0], days_seen[-1] + 1)
    # A day without candles keeps the equity of the last day that had some.
    which = np.searchsorted(days_seen, calendar, side="right") - 1
    ends: Indices = last_of_day[which]
    ends.flags.writeable = False  # shared by every run that asks
    _day_ends_memo = (weakref.ref(open_ms), ends)
    return ends


def daily_returns(start_equity: float, daily: Floats) -> Floats:
    values = np.concatenate(([start_equity], daily))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns: Floats = values[1:] / values[:-1] - 1.0
    return returns[np.isfinite(returns)]


def sharpe(returns: Floats) -> float | None:
    if returns.shape[0] < 2:
        return None
    deviation = float(np.std(returns, ddof=1))
    if deviation == 0 or not math.isfinite(deviation):
        return None
    return float(np.mean(returns)) / deviation * math.sqrt(DAYS_PER_YEAR)


def sortino(returns: Floats) -> float | None:
    if returns.shape[0] < 2:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside == 0 or not math.isfinite(downside):
        return None
    return float(np.mean(returns)) / downside * math.sqrt(DAYS_PER_YEAR)


def cagr_pct(growth: float, span_ms: int) -> float | None:
    """Compound annual growth in percent, for equity multiplied by ``growth`` over the span."""
    if span_ms <= 0 or growth <= 0 or not math.isfinite(growth):
        return None
    years = span_ms / (DAYS_PER_YEAR * DAY_MS)
    try:
        return (math.exp(math.log(growth) / years) - 1.0) * 100.0
    except OverflowError:
        return None


def annualisable(span_ms: int) -> bool:
    """Whether a run spanning ``span_ms`` (first close to last close) is long enough to
    annualise its figures."""
    return span_ms >= MIN_ANNUALISED_DAYS * DAY_MS


def not_annualised_note(span_ms: int) -> str:
    # Rounded down: a span a minute short of 90 days must not read "90.0 days".
    days = math.floor(span_ms / DAY_MS * 100) / 100
    return (
        f"Sharpe, Sortino, CAGR and Calmar are not given: the run spans {days:g} days, and "
        f"figures scaled to a year need at least {MIN_ANNUALISED_DAYS}"
    )


def min_max_indices(values: Floats, max_points: int = MAX_CURVE_POINTS) -> Indices:
    """At most ``max_points`` indices that keep the shape of ``values``, extremes included.

    The series is cut into equal buckets; each keeps its lowest and highest point (in time
    order), so every peak and trough survives and a drawdown drawn from the downsampled curve is
    as deep as the real one. The first and last points are always kept.
    """
    count = values.shape[0]
    if count <= max_points:
        return np.arange(count)
    buckets = (max_points - 2) // 2
    size = -(-count // buckets)
    padded = np.concatenate((values, np.full(buckets * size - count, values[-1])))
    table = padded.reshape(buckets, size)
    starts = np.arange(buckets) * size
    lows = np.minimum(starts + table.argmin(axis=1), count - 1)
    highs = np.minimum(starts + table.argmax(axis=1), count - 1)
    chosen = np.unique(np.concatenate(([0, count - 1], lows, highs)))
    return chosen


def exposure_pct(base: Floats, close: Floats, min_base: float, min_value: float) -> float:
    """Percent of candles closing with a position worth selling (dust does not count)."""
    exposed = (base >= min_base) & (base * close >= min_value) & (base > 0)
    return int(np.count_nonzero(exposed)) / int(base.shape[0]) * 100.0
