"""Small cases worked out by hand, the edge cases, and argument validation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from autogrid.trading.indicators import atr, bollinger, ema, macd, rsi, sma, true_range

nan = np.nan
Floats = NDArray[np.float64]


def series(*values: float) -> Floats:
    return np.array(values, dtype=np.float64)


def test_rsi_period_3_by_hand() -> None:
    # closes        10    11    10.5  11.5  12    11
    # change              +1    -0.5  +1    +0.5  -1
    # index 3: seed = mean of the first 3:  gain (1+0+1)/3 = 2/3,  loss (0+0.5+0)/3 = 1/6
    #          RSI = 100 * (2/3) / (2/3 + 1/6) = 80
    # index 4: gain (2/3*2 + 0.5)/3 = 11/18,  loss (1/6*2 + 0)/3 = 2/18  -> 100 * 11/13
    # index 5: gain (11/18*2 + 0)/3 = 11/27,  loss (2/18*2 + 1)/3 = 11/27 -> 50
    closes = series(10, 11, 10.5, 11.5, 12, 11)
    np.testing.assert_allclose(rsi(closes, 3), [nan, nan, nan, 80, 1100 / 13, 50], rtol=1e-14)


def test_ema_period_3_by_hand() -> None:
    # alpha = 2/(3+1) = 0.5; index 2: seed = (2+4+6)/3 = 4; then (8+4)/2 = 6, (4+6)/2 = 5,
    # (2+5)/2 = 3.5. (Seeding with the first value instead would give 5.25 at index 2.)
    np.testing.assert_allclose(ema(series(2, 4, 6, 8, 4, 2), 3), [nan, nan, 4, 6, 5, 3.5])


def test_sma_by_hand() -> None:
    np.testing.assert_allclose(sma(series(1, 2, 3, 4, 5), 2), [nan, 1.5, 2.5, 3.5, 4.5])
    np.testing.assert_allclose(sma(series(1, 2, 3, 4, 5), 5), [nan, nan, nan, nan, 3])


def test_bollinger_uses_the_population_stddev() -> None:
    # Windows [1, 3] and [3, 1]: mean 2, population variance ((1-2)^2 + (3-2)^2)/2 = 1, so the
    # bands are 2 -+ 2*1. The sample stddev (ddof=1) would be sqrt(2) and give 2 -+ 2.83.
    middle, upper, lower = bollinger(series(1, 3, 1), period=2, stddev=2.0)
    np.testing.assert_allclose(middle, [nan, 2, 2])
    np.testing.assert_allclose(upper, [nan, 4, 4])
    np.testing.assert_allclose(lower, [nan, 0, 0])


def test_atr_period_2_by_hand() -> None:
    # index  high  low   close  true range (previous close)
    #   0    10    8     9      NaN: no previous close
    #   1    11    9     10     max(2, |11-9|, |9-9|)        = 2
    #   2    12    11    11.5   max(1, |12-10|, |11-10|)     = 2    (gap up: the range is 1)
    #   3    11    7     8      max(4, |11-11.5|, |7-11.5|)  = 4.5
    #   4    9     8.5   9      max(0.5, |9-8|, |8.5-8|)     = 1
    # ATR: index 2 = (2+2)/2 = 2; index 3 = (2*1 + 4.5)/2 = 3.25; index 4 = (3.25 + 1)/2 = 2.125
    high, low, close = (
        series(10, 11, 12, 11, 9),
        series(8, 9, 11, 7, 8.5),
        series(9, 10, 11.5, 8, 9),
    )
    np.testing.assert_allclose(true_range(high, low, close), [nan, 2, 2, 4.5, 1])
    np.testing.assert_allclose(atr(high, low, close, 2), [nan, nan, 2, 3.25, 2.125])


def test_macd_by_hand() -> None:
    # closes 1 2 3 4 5 2. ema(2) (alpha 2/3): 1.5 at index 1, then 2.5, 3.5, 4.5, 2/3*2 + 4.5/3
    # = 2.8333; ema(3) (alpha 1/2): 2 at index 2, then 3, 4, 3. line from index 2: 0.5, 0.5,
    # 0.5, -1/6. signal = ema(line, 2): seed (0.5+0.5)/2 at index 3 = slow + signal - 2, then
    # 0.5, 2/3*(-1/6) + 1/3*0.5 = 1/18. histogram = line - signal: 0, 0, -1/6 - 1/18 = -2/9.
    line, signal, histogram = macd(series(1, 2, 3, 4, 5, 2), fast=2, slow=3, signal=2)
    np.testing.assert_allclose(line, [nan, nan, 0.5, 0.5, 0.5, -1 / 6], rtol=1e-14)
    np.testing.assert_allclose(signal, [nan, nan, nan, 0.5, 0.5, 1 / 18], rtol=1e-14)
    np.testing.assert_allclose(histogram, [nan, nan, nan, 0, 0, -2 / 9], rtol=1e-14, atol=1e-15)


LONG = 500  # longer than the vectorised path's threshold, so both code paths are covered


@pytest.mark.parametrize("length", [20, LONG])
def test_rsi_of_constant_prices_is_50(length: int) -> None:
    values = rsi(np.full(length, 42.0), 14)
    assert (values[14:] == 50.0).all()


@pytest.mark.parametrize("length", [20, LONG])
def test_rsi_of_rising_prices_is_100_and_of_falling_prices_0(length: int) -> None:
    rising = np.linspace(100.0, 200.0, length)
    assert (rsi(rising, 14)[14:] == 100.0).all()
    assert (rsi(rising[::-1], 14)[14:] == 0.0).all()


ALL_INDICATORS: dict[str, Callable[[Floats, int], object]] = {
    "sma": sma,
    "ema": ema,
    "rsi": rsi,
    "bollinger": lambda close, period: bollinger(close, period),
    "macd": lambda close, period: macd(close, 2, period),
    "atr": lambda close, period: atr(close + 1, close - 1, close, period),
}


def outputs(result: object) -> list[Floats]:
    return list(result) if isinstance(result, tuple) else [result]  # type: ignore[list-item]


@pytest.mark.parametrize("name", ALL_INDICATORS)
@pytest.mark.parametrize("length", [0, 1, 5, 9])
def test_period_longer_than_the_series_gives_all_nan(name: str, length: int) -> None:
    close = np.linspace(1.0, 2.0, length)
    for output in outputs(ALL_INDICATORS[name](close, 10)):
        assert output.shape == (length,)
        assert np.isnan(output).all()


def test_the_first_value_appears_exactly_when_the_data_suffices() -> None:
    close = np.linspace(1.0, 2.0, 10)
    assert np.isnan(sma(close, 10)[:-1]).all() and not np.isnan(sma(close, 10)[-1])
    assert np.isnan(rsi(close, 10)).all()  # RSI needs period + 1 closes
    assert not np.isnan(rsi(close, 9)[-1])
    assert np.isnan(atr(close + 1, close - 1, close, 10)).all()


@pytest.mark.parametrize("name", ALL_INDICATORS)
def test_inputs_are_not_modified(name: str) -> None:
    close = np.linspace(1.0, 2.0, LONG) ** 2
    before = close.copy()
    ALL_INDICATORS[name](close, 14)
    np.testing.assert_array_equal(close, before)


def test_leading_nans_delay_the_warm_up_so_indicators_chain() -> None:
    close = 100 + np.cumsum(np.sin(np.arange(LONG)))
    smoothed_rsi = ema(rsi(close, 14), 5)
    expected_tail = ema(rsi(close, 14)[14:], 5)
    np.testing.assert_array_equal(smoothed_rsi[14:], expected_tail)
    assert np.isnan(smoothed_rsi[: 14 + 4]).all()


def test_lists_and_integer_arrays_are_accepted() -> None:
    np.testing.assert_allclose(sma([1, 2, 3], 2), [nan, 1.5, 2.5])  # type: ignore[arg-type]
    np.testing.assert_allclose(ema(np.array([2, 4, 6, 8]), 3), [nan, nan, 4, 6])


@pytest.mark.parametrize("period", [0, -1, 2.5, True, "14", None, np.float64(3)])
def test_period_must_be_a_positive_int(period: object) -> None:
    with pytest.raises(ValueError, match="period must be an int >= 1"):
        sma(series(1, 2, 3), period)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period must be an int >= 1"):
        rsi(series(1, 2, 3), period)  # type: ignore[arg-type]


def test_numpy_integer_periods_are_accepted() -> None:
    np.testing.assert_allclose(sma(series(1, 2, 3), np.int64(2)), [nan, 1.5, 2.5])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: atr(series(2, 3), series(1, 2), series(1.5), 1), "equal lengths.*close=1"),
        (lambda: true_range(series(2), series(1, 2), series(1)), "equal lengths"),
        (lambda: sma(np.ones((3, 2)), 2), "1-D"),
        (lambda: rsi(series(1, nan, 3), 1), "NaN at index 1 after data started at index 0"),
        (lambda: ema(series(1, 2, np.inf), 1), "infinite"),
        (lambda: macd(series(1, 2, 3), fast=26, slow=12), "fast must be shorter than slow"),
        (lambda: macd(series(1, 2, 3), fast=5, slow=5), "fast must be shorter than slow"),
        (lambda: macd(series(1, 2, 3), signal=0), "signal must be an int >= 1"),
        (lambda: bollinger(series(1, 2, 3), 2, -1.0), "stddev must be a finite number >= 0"),
        (lambda: bollinger(series(1, 2, 3), 2, nan), "stddev must be a finite number >= 0"),
    ],
)
def test_invalid_arguments_are_refused_with_a_clear_message(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()
