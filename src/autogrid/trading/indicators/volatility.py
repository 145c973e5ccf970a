"""Volatility indicators: Bollinger Bands, true range and ATR."""

from __future__ import annotations

import math
import numbers

import numpy as np

from autogrid.trading.indicators._checks import (
    Series,
    as_series,
    check_period,
    check_same_length,
    first_valid_index,
)
from autogrid.trading.indicators._recurrence import seeded_average
from autogrid.trading.indicators._windows import rolling_mean_variance


def bollinger(
    close: Series, period: int = 20, stddev: float = 2.0
) -> tuple[Series, Series, Series]:
    """Bollinger Bands: (middle, upper, lower) = sma, sma + stddev * sigma, sma - stddev * sigma.

    sigma is the population standard deviation (ddof=0) of the same `period` closes, as in
    TA-Lib and TradingView (pandas' `rolling().std()` defaults to ddof=1, which is wider).
    First value at index `period - 1`, NaN before.
    """
    values = as_series(close, "close")
    period = check_period(period)
    real = isinstance(stddev, numbers.Real) and not isinstance(stddev, bool)
    if not (real and math.isfinite(stddev) and stddev >= 0):
        raise ValueError(f"stddev must be a finite number >= 0, got {stddev!r}")
    start = first_valid_index(values, "close")
    middle = np.full(values.size, np.nan)
    variance = np.full(values.size, np.nan)
    middle[start:], variance[start:] = rolling_mean_variance(values[start:], period)
    width = stddev * np.sqrt(variance)
    return middle, middle + width, middle - width


def true_range(high: Series, low: Series, close: Series) -> Series:
    """max(high - low, |high - previous close|, |low - previous close|).

    Index 0 is NaN: the first candle has no previous close, and rather than fall back to
    high - low there (TradingView does), it is left out, as TA-Lib does.
    """
    highs, lows, closes, start = _candles(high, low, close)
    result = np.full(highs.size, np.nan)
    previous_close = closes[start:-1]
    result[start + 1 :] = np.maximum.reduce(
        [
            highs[start + 1 :] - lows[start + 1 :],
            np.abs(highs[start + 1 :] - previous_close),
            np.abs(lows[start + 1 :] - previous_close),
        ]
    )
    return result


def atr(high: Series, low: Series, close: Series, period: int = 14) -> Series:
    """Wilder's Average True Range.

    Seeded with the simple mean of the first `period` true ranges, which all use a previous
    close (see `true_range`), so the first ATR is at index `period` (NaN before), as in TA-Lib;
    after it `atr = (previous * (period - 1) + true_range) / period`. TradingView's `ta.atr`
    counts high - low of the first candle instead and starts one index earlier.
    """
    period = check_period(period)
    ranges = true_range(high, low, close)
    start = first_valid_index(ranges, "true range")
    result = np.full(ranges.size, np.nan)
    result[start:] = seeded_average(ranges[start:], period, 1.0 / period)
    return result


def _candles(high: Series, low: Series, close: Series) -> tuple[Series, Series, Series, int]:
    """The three price series, checked, and the first index where all three have data."""
    highs, lows, closes = as_series(high, "high"), as_series(low, "low"), as_series(close, "close")
    check_same_length(high=highs, low=lows, close=closes)
    start = max(
        first_valid_index(highs, "high"),
        first_valid_index(lows, "low"),
        first_valid_index(closes, "close"),
    )
    return highs, lows, closes, start
