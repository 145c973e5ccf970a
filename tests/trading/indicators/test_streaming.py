"""The live-bot states, fed one candle at a time, equal the batch functions at every step."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from autogrid.trading.indicators import (
    AtrState,
    EmaState,
    MacdState,
    RsiState,
    atr,
    ema,
    macd,
    rsi,
)

RTOL = 1e-12
CANDLES = 3_000  # enough for the batch side to use its vectorised path


def test_ema_state(real_candles: pd.DataFrame) -> None:
    close = real_candles["close"].to_numpy()[:CANDLES]
    state = EmaState(20)
    streamed = [state.update(value) for value in close]
    np.testing.assert_allclose(streamed, ema(close, 20), rtol=RTOL)  # NaN positions included
    assert state.value == streamed[-1]


def test_rsi_state(real_candles: pd.DataFrame) -> None:
    close = real_candles["close"].to_numpy()[:CANDLES]
    state = RsiState(14)
    streamed = [state.update(value) for value in close]
    np.testing.assert_allclose(streamed, rsi(close, 14), rtol=RTOL, atol=100 * RTOL)


def test_macd_state(real_candles: pd.DataFrame) -> None:
    close = real_candles["close"].to_numpy()[:CANDLES]
    state = MacdState(12, 26, 9)
    streamed = np.array([state.update(value) for value in close])
    atol = RTOL * float(np.median(close))  # MACD crosses zero: error relative to the price
    for column, batch in enumerate(macd(close, 12, 26, 9)):
        np.testing.assert_allclose(streamed[:, column], batch, rtol=RTOL, atol=atol)


def test_atr_state(real_candles: pd.DataFrame) -> None:
    candles = real_candles.iloc[:CANDLES]
    high, low, close = (candles[name].to_numpy() for name in ("high", "low", "close"))
    state = AtrState(14)
    streamed = [state.update(*candle) for candle in zip(high, low, close, strict=True)]
    np.testing.assert_allclose(streamed, atr(high, low, close, 14), rtol=RTOL)


@given(
    arrays(np.float64, st.integers(0, 400), elements=st.floats(1e-3, 1e6)),
    st.integers(1, 30),
)
def test_rsi_state_on_arbitrary_closes(close: np.ndarray, period: int) -> None:
    state = RsiState(period)
    streamed = [state.update(value) for value in close]
    np.testing.assert_allclose(streamed, rsi(close, period), rtol=RTOL, atol=100 * RTOL)


def test_states_refuse_bad_periods_and_non_finite_prices() -> None:
    with pytest.raises(ValueError, match="period must be an int >= 1"):
        RsiState(0)
    with pytest.raises(ValueError, match="fast must be shorter than slow"):
        MacdState(26, 12)
    state = EmaState(3)
    with pytest.raises(ValueError, match="close must be a finite number"):
        state.update(math.nan)
    with pytest.raises(ValueError, match="high must be a finite number"):
        AtrState().update(math.inf, 1.0, 1.0)
