"""Accuracy on a year of 1-minute candles (525,600 values, the backtest's scale): no error that
grows with the length of the series, checked against slow exact computations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autogrid.trading.indicators import bollinger, ema, rsi, sma
from tests.trading.indicators.test_matches_naive_loops import naive_rsi, naive_seeded_average


def window_sums(values: np.ndarray, period: int) -> np.ndarray:
    """Each window summed on its own (no running total), one offset at a time."""
    sums = np.zeros(values.size - period + 1)
    for offset in range(period):
        sums += values[offset : offset + sums.size]
    return sums


def test_sma_does_not_drift(year_of_minutes: pd.DataFrame) -> None:
    close = year_of_minutes["close"].to_numpy()
    for period in (20, 200):
        expected = window_sums(close, period) / period
        relative_error = np.abs(sma(close, period)[period - 1 :] / expected - 1)
        # A plain cumsum difference is off by up to 2e-11 here.
        assert relative_error.max() < 1e-14


def test_bollinger_deviation_is_accurate_in_calm_minutes(year_of_minutes: pd.DataFrame) -> None:
    close = year_of_minutes["close"].to_numpy()
    period = 20
    mean = window_sums(close, period) / period
    squared = np.zeros_like(mean)
    for offset in range(period):
        squared += (close[offset : offset + mean.size] - mean) ** 2
    expected = np.sqrt(squared / period)
    # Width 1e6 so that upper - middle carries sigma's own precision, not the price's.
    middle, upper, _ = bollinger(close, period, 1e6)
    deviation = (upper - middle)[period - 1 :] / 1e6
    assert expected.min() > 0  # the calmest window still moves (sigma 0.005 at ~1e5)
    # mean(x**2) - mean(x)**2 over the same windows is off by up to 18% in the calmest minutes.
    assert (np.abs(deviation / expected - 1)).max() < 1e-12


def test_ema_and_rsi_equal_the_plain_recursion(year_of_minutes: pd.DataFrame) -> None:
    close = year_of_minutes["close"].to_numpy()
    values = close.tolist()
    expected_ema = naive_seeded_average(values, 200, 2 / 201)
    np.testing.assert_allclose(ema(close, 200), expected_ema, rtol=1e-12)
    np.testing.assert_allclose(rsi(close, 14), naive_rsi(values, 14), rtol=1e-12, atol=1e-10)
