"""Property: the vectorised indicators equal plain Python loops that follow the textbook
definitions one value at a time, on arbitrary arrays (long enough to cross the vectorised
recurrence's blocks, and with repeated values for the flat branches)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from autogrid.trading.indicators import atr, bollinger, ema, macd, rsi, sma

Floats = NDArray[np.float64]
RTOL = 1e-12

# Price-like values over nine orders of magnitude, or a few repeated levels so that windows are
# flat and RSI's average loss or gain is exactly zero.
prices = st.one_of(
    arrays(np.float64, st.integers(0, 700), elements=st.floats(1e-3, 1e6)),
    arrays(np.float64, st.integers(0, 700), elements=st.sampled_from([1.0, 1.5, 2.0])),
)
periods = st.integers(1, 60)


def naive_seeded_average(values: list[float], period: int, alpha: float) -> list[float]:
    result = [math.nan] * len(values)
    if len(values) < period:
        return result
    average = sum(values[:period]) / period
    result[period - 1] = average
    for index in range(period, len(values)):
        average = alpha * values[index] + (1 - alpha) * average
        result[index] = average
    return result


def naive_wilder(values: list[float], period: int) -> list[float]:
    """Wilder's own formulation, (previous * (period - 1) + value) / period."""
    result = [math.nan] * len(values)
    if len(values) < period:
        return result
    average = sum(values[:period]) / period
    result[period - 1] = average
    for index in range(period, len(values)):
        average = (average * (period - 1) + values[index]) / period
        result[index] = average
    return result


def naive_sma(values: list[float], period: int) -> list[float]:
    return [
        sum(values[i + 1 - period : i + 1]) / period if i >= period - 1 else math.nan
        for i in range(len(values))
    ]


def naive_rsi(closes: list[float], period: int) -> list[float]:
    changes = [now - before for before, now in itertools.pairwise(closes)]
    gains = naive_wilder([max(change, 0.0) for change in changes], period)
    losses = naive_wilder([max(-change, 0.0) for change in changes], period)
    result = [math.nan]
    for gain, loss in zip(gains, losses, strict=True):
        if math.isnan(gain):
            result.append(math.nan)
        elif loss == 0:
            result.append(50.0 if gain == 0 else 100.0)
        else:
            result.append(100 - 100 / (1 + gain / loss))
    return result[: len(closes)]


def as_list(values: Floats) -> list[float]:
    return [float(value) for value in values]


@given(prices, periods)
def test_sma(close: Floats, period: int) -> None:
    np.testing.assert_allclose(sma(close, period), naive_sma(as_list(close), period), rtol=RTOL)


@given(prices, periods)
def test_ema(close: Floats, period: int) -> None:
    expected = naive_seeded_average(as_list(close), period, 2 / (period + 1))
    np.testing.assert_allclose(ema(close, period), expected, rtol=RTOL)


@given(
    arrays(np.float64, st.integers(0, 700), elements=st.floats(-1e6, 1e6)),
    periods,
)
def test_ema_of_values_of_both_signs(values: Floats, period: int) -> None:
    # As on a MACD line: near zero the error is relative to the magnitude of the inputs.
    expected = naive_seeded_average(as_list(values), period, 2 / (period + 1))
    scale = float(np.abs(values).max(initial=0.0))
    np.testing.assert_allclose(ema(values, period), expected, rtol=RTOL, atol=RTOL * scale)


@given(prices, periods)
def test_rsi(close: Floats, period: int) -> None:
    # The textbook 100 - 100 / (1 + RS) cancels near RSI 0 (0.013 comes out ~1e-12 relative
    # off), so near 0 the agreement is checked in RSI points, the scale that matters.
    expected = naive_rsi(as_list(close), period)
    np.testing.assert_allclose(rsi(close, period), expected, rtol=RTOL, atol=100 * RTOL)


@settings(max_examples=50)
@given(prices, st.integers(1, 20), st.integers(2, 40), st.integers(1, 20))
def test_macd(close: Floats, fast: int, extra: int, signal: int) -> None:
    slow = fast + extra
    values = as_list(close)
    fast_line = naive_seeded_average(values, fast, 2 / (fast + 1))
    slow_line = naive_seeded_average(values, slow, 2 / (slow + 1))
    line = [f - s for f, s in zip(fast_line, slow_line, strict=True)]
    signal_tail = naive_seeded_average(line[slow - 1 :], signal, 2 / (signal + 1))
    signal_line = line[: slow - 1] + signal_tail  # NaN until the line starts
    scale = float(close.max(initial=0.0))
    ours = macd(close, fast, slow, signal)
    np.testing.assert_allclose(ours[0], line, rtol=RTOL, atol=RTOL * scale)
    np.testing.assert_allclose(ours[1], signal_line[: len(values)], rtol=RTOL, atol=RTOL * scale)


@given(prices, periods, st.floats(0.0, 4.0))
def test_bollinger(close: Floats, period: int, width: float) -> None:
    values = as_list(close)
    middle = naive_sma(values, period)
    deviation = [math.nan] * len(values)
    for i in range(period - 1, len(values)):
        window = values[i + 1 - period : i + 1]
        deviation[i] = math.sqrt(sum((v - middle[i]) ** 2 for v in window) / period)
    # The bands are prices; near-flat windows are where rounding is largest relative to sigma.
    atol = RTOL * float(close.max(initial=0.0))
    ours_middle, upper, lower = bollinger(close, period, width)
    np.testing.assert_allclose(ours_middle, middle, rtol=RTOL)
    np.testing.assert_allclose(upper, np.add(middle, np.multiply(width, deviation)), RTOL, atol)
    np.testing.assert_allclose(
        lower, np.subtract(middle, np.multiply(width, deviation)), RTOL, atol
    )


@given(prices, periods)
def test_atr(close: Floats, period: int) -> None:
    # Candles around the closes: spreads drawn from the closes themselves, so they vary.
    spread = np.roll(close, 1) * 0.01
    high, low = close + spread, close - spread
    ranges = [math.nan] + [
        max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        for i in range(1, len(close))
    ]
    expected = [math.nan, *naive_wilder(ranges[1:], period)]
    np.testing.assert_allclose(atr(high, low, close, period), expected[: len(close)], rtol=RTOL)
