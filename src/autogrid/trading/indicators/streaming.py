"""Streaming twins of the recursive indicators, for live bots that see one candle at a time.

EMA, RSI, MACD and ATR depend on the whole history through their seed, so recomputing them over a
recent window would drift from what the backtest saw. A state fed every candle since the start
with `update()` returns the same values as the batch function over that series (to rounding:
~1e-15 relative measured). To resume, feed the stored history through `update()` once at start-up.

SMA and Bollinger Bands depend only on the last `period` closes: a live bot calls `sma` or
`bollinger` on (at least) those closes and takes the last value, which is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from autogrid.trading.indicators._checks import check_period


@dataclass(slots=True)
class _SeededAverage:
    """One step at a time of `_recurrence.seeded_average`, with the same arithmetic."""

    period: int
    weight: float
    value: float = math.nan
    _seen: int = 0
    _seed_total: float = 0.0

    def add(self, value: float) -> float:
        if self._seen < self.period:
            self._seen += 1
            self._seed_total += value
            if self._seen == self.period:
                self.value = self._seed_total / self.period
            return self.value
        self.value = (1.0 - self.weight) * self.value + self.weight * value
        return self.value


def _wilder(period: int) -> _SeededAverage:
    return _SeededAverage(period, 1.0 / period)


def _exponential(period: int) -> _SeededAverage:
    return _SeededAverage(period, 2.0 / (period + 1))


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(slots=True)
class EmaState:
    """`ema(closes, period)[-1]` for the closes given to `update` so far (NaN while warming up)."""

    period: int
    _average: _SeededAverage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.period = check_period(self.period)
        self._average = _exponential(self.period)

    @property
    def value(self) -> float:
        return self._average.value

    def update(self, close: float) -> float:
        return self._average.add(_finite(close, "close"))


@dataclass(slots=True)
class RsiState:
    """`rsi(closes, period)[-1]` for the closes given to `update` so far (NaN while warming up)."""

    period: int = 14
    value: float = field(default=math.nan, init=False)
    _previous_close: float = field(default=math.nan, init=False, repr=False)
    _gain: _SeededAverage = field(init=False, repr=False)
    _loss: _SeededAverage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.period = check_period(self.period)
        self._gain = _wilder(self.period)
        self._loss = _wilder(self.period)

    def update(self, close: float) -> float:
        close = _finite(close, "close")
        previous, self._previous_close = self._previous_close, close
        if math.isnan(previous):
            return self.value
        change = close - previous
        avg_gain = self._gain.add(max(change, 0.0))
        avg_loss = self._loss.add(max(-change, 0.0))
        if not math.isnan(avg_gain):
            total = avg_gain + avg_loss
            self.value = 50.0 if total == 0.0 else 100.0 * (avg_gain / total)
        return self.value


@dataclass(slots=True)
class MacdState:
    """The last (line, signal, histogram) of `macd(closes, fast, slow, signal)` so far."""

    fast: int = 12
    slow: int = 26
    signal: int = 9
    _fast_average: _SeededAverage = field(init=False, repr=False)
    _slow_average: _SeededAverage = field(init=False, repr=False)
    _signal_average: _SeededAverage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fast = check_period(self.fast, "fast")
        self.slow = check_period(self.slow, "slow")
        self.signal = check_period(self.signal, "signal")
        if self.fast >= self.slow:
            raise ValueError(
                f"fast must be shorter than slow, got fast={self.fast}, slow={self.slow}"
            )
        self._fast_average = _exponential(self.fast)
        self._slow_average = _exponential(self.slow)
        self._signal_average = _exponential(self.signal)

    def update(self, close: float) -> tuple[float, float, float]:
        close = _finite(close, "close")
        line = self._fast_average.add(close) - self._slow_average.add(close)
        if math.isnan(line):
            return line, math.nan, math.nan
        signal = self._signal_average.add(line)
        return line, signal, line - signal


@dataclass(slots=True)
class AtrState:
    """`atr(highs, lows, closes, period)[-1]` for the candles given to `update` so far."""

    period: int = 14
    _previous_close: float = field(default=math.nan, init=False, repr=False)
    _average: _SeededAverage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.period = check_period(self.period)
        self._average = _wilder(self.period)

    @property
    def value(self) -> float:
        return self._average.value

    def update(self, high: float, low: float, close: float) -> float:
        high, low = _finite(high, "high"), _finite(low, "low")
        close = _finite(close, "close")
        previous, self._previous_close = self._previous_close, close
        if math.isnan(previous):
            return self.value  # the first candle has no true range (see volatility.true_range)
        true_range = max(high - low, abs(high - previous), abs(low - previous))
        return self._average.add(true_range)
