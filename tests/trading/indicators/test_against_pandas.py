"""Every indicator on real candles against an independent pandas computation: agreement to 1e-9
relative after the warm-up, and NaN at exactly the warm-up positions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from autogrid.trading.indicators import atr, bollinger, ema, macd, rsi, sma, true_range

RTOL = 1e-9


def seeded_ewm(values: pd.Series, period: int, alpha: float) -> pd.Series:
    """pandas' recursive average (ewm, adjust=False) seeded with the simple mean of the first
    `period` values: the first `period - 1` are blanked and the seed put in the last of them."""
    start = int(values.notna().to_numpy().argmax())
    seeded = values.copy()
    seeded.iloc[start : start + period - 1] = np.nan
    seeded.iloc[start + period - 1] = values.iloc[start : start + period].mean()
    return seeded.ewm(alpha=alpha, adjust=False).mean()


def assert_matches(
    ours: NDArray[np.float64], reference: pd.Series, warm_up: int, atol: float = 0.0
) -> None:
    expected = reference.to_numpy()
    assert ours.shape == expected.shape
    assert np.isnan(ours[:warm_up]).all(), "a value before the end of the warm-up"
    assert not np.isnan(ours[warm_up:]).any(), "a NaN after the warm-up"
    np.testing.assert_allclose(ours, expected, rtol=RTOL, atol=atol)  # NaN positions must match


def price_scale(candles: pd.DataFrame) -> float:
    return float(candles["close"].abs().median())


@pytest.mark.parametrize("period", [1, 2, 20, 200])
def test_sma(real_candles: pd.DataFrame, period: int) -> None:
    close = real_candles["close"]
    assert_matches(sma(close.to_numpy(), period), close.rolling(period).mean(), period - 1)


@pytest.mark.parametrize("period", [1, 2, 12, 200])
def test_ema_is_sma_seeded(real_candles: pd.DataFrame, period: int) -> None:
    close = real_candles["close"]
    reference = seeded_ewm(close, period, alpha=2 / (period + 1))
    assert_matches(ema(close.to_numpy(), period), reference, period - 1)


def pandas_rsi(close: pd.Series, period: int) -> pd.Series:
    change = close.diff()
    avg_gain = seeded_ewm(change.clip(lower=0), period, alpha=1 / period)
    avg_loss = seeded_ewm((-change).clip(lower=0), period, alpha=1 / period)
    strength = 100 - 100 / (1 + avg_gain / avg_loss)
    strength[avg_loss == 0] = 100.0
    strength[(avg_gain == 0) & (avg_loss == 0)] = 50.0
    return strength


@pytest.mark.parametrize("period", [1, 2, 14, 100])
def test_rsi_wilder(real_candles: pd.DataFrame, period: int) -> None:
    close = real_candles["close"]
    assert_matches(rsi(close.to_numpy(), period), pandas_rsi(close, period), period)


def test_rsi_comparison_covers_the_flat_and_one_sided_branches(real_candles: pd.DataFrame) -> None:
    # Guards the test above: with period 1 every file has unchanged, rising and falling closes,
    # so the zero-loss (100), zero-gain (0) and flat (50) branches are all compared.
    values = rsi(real_candles["close"].to_numpy(), 1)
    assert {0.0, 50.0, 100.0} <= set(values[1:].tolist())


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (2, 3, 2), (50, 200, 30)])
def test_macd(real_candles: pd.DataFrame, fast: int, slow: int, signal: int) -> None:
    close = real_candles["close"]
    line_reference = seeded_ewm(close, fast, 2 / (fast + 1)) - seeded_ewm(
        close, slow, 2 / (slow + 1)
    )
    signal_reference = seeded_ewm(line_reference, signal, 2 / (signal + 1))
    line, signal_line, histogram = macd(close.to_numpy(), fast, slow, signal)
    # MACD is a difference of two prices and crosses zero, so its rounding error is relative to
    # the price, not to itself: an absolute tolerance a million times below a price tick.
    atol = 1e-12 * price_scale(real_candles)
    assert_matches(line, line_reference, slow - 1, atol)
    assert_matches(signal_line, signal_reference, slow + signal - 2, atol)
    assert_matches(histogram, line_reference - signal_reference, slow + signal - 2, atol)


@pytest.mark.parametrize(("period", "width"), [(20, 2.0), (2, 1.5), (100, 3.0)])
def test_bollinger_population_stddev(real_candles: pd.DataFrame, period: int, width: float) -> None:
    close = real_candles["close"]
    middle_reference = close.rolling(period).mean()
    # numpy's two-pass std of every window rather than pandas' rolling().std(ddof=0): pandas
    # updates its variance online, and on flat windows (common in the Bittrex file) leaves a
    # residue of ~1e-24 that the square root turns into 1e-12, a 1e-9 error on the bands.
    windows = sliding_window_view(close.to_numpy(), period)
    deviation_reference = pd.Series(np.r_[np.full(period - 1, np.nan), windows.std(axis=1)])
    middle, upper, lower = bollinger(close.to_numpy(), period, width)
    assert_matches(middle, middle_reference, period - 1)
    assert_matches(upper, middle_reference + width * deviation_reference, period - 1)
    assert_matches(lower, middle_reference - width * deviation_reference, period - 1)


def pandas_true_range(candles: pd.DataFrame) -> pd.Series:
    previous_close = candles["close"].shift()
    ranges = pd.concat(
        [
            candles["high"] - candles["low"],
            (candles["high"] - previous_close).abs(),
            (candles["low"] - previous_close).abs(),
        ],
        axis=1,
    ).max(axis=1)
    ranges.iloc[0] = np.nan  # no previous close: pandas' max() would fall back to high - low
    return ranges


@pytest.mark.parametrize("period", [1, 2, 14, 100])
def test_atr_wilder(real_candles: pd.DataFrame, period: int) -> None:
    high, low, close = (real_candles[name].to_numpy() for name in ("high", "low", "close"))
    reference_ranges = pandas_true_range(real_candles)
    assert_matches(true_range(high, low, close), reference_ranges, 1)
    reference = seeded_ewm(reference_ranges, period, alpha=1 / period)
    assert_matches(atr(high, low, close, period), reference, period)
