"""Moving averages: simple (SMA) and exponential (EMA)."""

from __future__ import annotations

import numpy as np

from autogrid.trading.indicators._checks import (
    Series,
    as_series,
    check_period,
    first_valid_index,
)
from autogrid.trading.indicators._recurrence import seeded_average
from autogrid.trading.indicators._windows import rolling_mean


def sma(close: Series, period: int) -> Series:
    """Simple moving average: the mean of the `period` values ending at each index.

    NaN for the first `period - 1` values (after any leading NaNs of the input).
    """
    values = as_series(close, "close")
    period = check_period(period)
    start = first_valid_index(values, "close")
    result = np.full(values.size, np.nan)
    result[start:] = rolling_mean(values[start:], period)
    return result


def ema(close: Series, period: int) -> Series:
    """Exponential moving average with alpha = 2 / (period + 1).

    Seeded like TA-Lib: the first value, at index `period - 1`, is the SMA of the first `period`
    values, and each later one is `alpha * close + (1 - alpha) * previous`. NaN before the seed.
    (pandas `ewm(span=period, adjust=False)` seeds with the first value instead, so it differs
    at the start and converges to this after a few multiples of `period`.)
    """
    values = as_series(close, "close")
    period = check_period(period)
    start = first_valid_index(values, "close")
    result = np.full(values.size, np.nan)
    result[start:] = seeded_average(values[start:], period, 2.0 / (period + 1))
    return result
