"""Momentum oscillators: RSI and MACD."""

from __future__ import annotations

import numpy as np

from autogrid.trading.indicators._checks import (
    Series,
    as_series,
    check_period,
    first_valid_index,
)
from autogrid.trading.indicators._recurrence import seeded_average
from autogrid.trading.indicators.averages import ema


def rsi(close: Series, period: int = 14) -> Series:
    """Wilder's Relative Strength Index, 0..100.

    The first average gain (and loss) is the simple mean of the first `period` close-to-close
    gains (losses), so the first RSI is at index `period` (NaN before); after it
    `avg = (previous_avg * (period - 1) + current) / period`. RSI = 100 * avg_gain /
    (avg_gain + avg_loss), which equals 100 - 100 / (1 + RS) and is 100 when the average loss is
    0, and 50 when both averages are 0 (a flat market). Matches TA-Lib's RSI.
    """
    values = as_series(close, "close")
    period = check_period(period)
    start = first_valid_index(values, "close")
    result = np.full(values.size, np.nan)
    changes = np.diff(values[start:])
    if changes.size >= period:
        avg_gain = seeded_average(np.maximum(changes, 0.0), period, 1.0 / period)
        avg_loss = seeded_average(np.maximum(-changes, 0.0), period, 1.0 / period)
        result[start + 1 :] = rsi_from_averages(avg_gain, avg_loss)
    return result


def rsi_from_averages(avg_gain: Series, avg_loss: Series) -> Series:
    total = avg_gain + avg_loss
    with np.errstate(invalid="ignore", divide="ignore"):
        # Divide first: gain / gain is exactly 1, so a loss-free average gives exactly 100.
        strength = 100.0 * (avg_gain / total)
    strength[total == 0.0] = 50.0
    return strength


def macd(
    close: Series, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[Series, Series, Series]:
    """Moving Average Convergence/Divergence: (line, signal, histogram).

    line = ema(close, fast) - ema(close, slow), starting at index `slow - 1`;
    signal = ema(line, signal), seeded with the mean of the first `signal` line values, so it and
    histogram = line - signal start at index `slow + signal - 2` (NaN before). Unlike TA-Lib, the
    fast EMA is exactly `ema(close, fast)` (TA-Lib re-seeds it to start with the slow one), so the
    first few dozen values differ slightly from TA-Lib's and then agree.
    """
    values = as_series(close, "close")
    fast = check_period(fast, "fast")
    slow = check_period(slow, "slow")
    signal = check_period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"fast must be shorter than slow, got fast={fast}, slow={slow}")
    line = ema(values, fast) - ema(values, slow)
    signal_line = ema(line, signal)
    return line, signal_line, line - signal_line
