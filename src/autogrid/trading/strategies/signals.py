"""Entry and exit rules of the indicator strategies.

Each rule computes its indicator series once (vectorised) and answers two questions with the very
same comparisons: per candle (``entry``/``exit`` on the latest and previous values, used by
``decide``) and for all candles at once (``entry_mask``/``exit_mask``, used by the backtest engine
to skip ahead). Using one comparison for both is what keeps skipping exact: each pair sits side by
side in its rule, and the tests check the two forms agree at every candle of real data.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from autogrid.trading.indicators import bollinger, ema, macd, rsi, sma
from autogrid.trading.strategies.base import CandleWindow, StrategyConfigError

Series = NDArray[np.float64]
Values = Mapping[str, tuple[float, float]]  # name -> (latest, previous)


def crossed_below(current: float, previous: float, level: float) -> bool:
    return previous >= level and current < level


def crossed_above(current: float, previous: float, level: float) -> bool:
    return previous <= level and current > level


def crossings_below(series: Series, level: float) -> NDArray[np.bool_]:
    """``crossed_below`` at every candle at once (False where either value is NaN)."""
    previous = _previous(series)
    with np.errstate(invalid="ignore"):
        return (previous >= level) & (series < level)


def crossings_above(series: Series, level: float) -> NDArray[np.bool_]:
    """``crossed_above`` at every candle at once (False where either value is NaN)."""
    previous = _previous(series)
    with np.errstate(invalid="ignore"):
        return (previous <= level) & (series > level)


def _previous(series: Series) -> Series:
    shifted = np.empty_like(series)
    shifted[0] = np.nan
    shifted[1:] = series[:-1]
    return shifted


class SignalRule(Protocol):
    def warmup(self) -> int: ...

    def series_key(self) -> Hashable:
        """What ``series`` depends on: rules with equal keys compute equal series over the same
        candles (a parameter sweep computes them once per key)."""
        ...

    def series(self, candles: CandleWindow) -> dict[str, Series]: ...

    def entry(self, values: Values) -> bool: ...

    def exit(self, values: Values) -> bool: ...

    def entry_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        """Where ``entry`` holds, for all candles at once (given ready values)."""
        ...

    def exit_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        """Where ``exit`` holds, for all candles at once (given ready values)."""
        ...

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        """Every candle where ``entry`` or ``exit`` can hold."""
        ...


# How far back a recursive average still matters: a value older than this weighs under 1e-12.
FORGOTTEN = 1e-12


def memory(alpha: float) -> int:
    """Candles after which an exponential average with smoothing ``alpha`` has forgotten its
    start to ``FORGOTTEN``. A live bot (or a replay) sees only its last ``warmup()`` candles while
    a backtest sees the whole series: with this much history the two agree to float noise, so a
    signal never differs between them (a window of a few periods differed by 1e-5, enough to flip
    a close crossing)."""
    return math.ceil(math.log(FORGOTTEN) / math.log1p(-alpha))


@dataclass(frozen=True, slots=True)
class RsiRule:
    period: int = 14
    buy_below: float = 30.0
    sell_above: float = 70.0

    def __post_init__(self) -> None:
        if not 2 <= self.period <= 500:
            raise StrategyConfigError("period must be between 2 and 500")
        if not 0 < self.buy_below < self.sell_above < 100:
            raise StrategyConfigError("need 0 < buy_below < sell_above < 100")

    def warmup(self) -> int:
        return memory(1 / self.period) + 1  # Wilder's smoothing

    def series_key(self) -> Hashable:
        return ("rsi", self.period)  # the thresholds only compare

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        return {"rsi": rsi(candles.close, self.period)}

    def entry(self, values: Values) -> bool:
        current, previous = values["rsi"]
        return crossed_below(current, previous, self.buy_below)

    def exit(self, values: Values) -> bool:
        current, previous = values["rsi"]
        return crossed_above(current, previous, self.sell_above)

    def entry_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_below(series["rsi"], self.buy_below)

    def exit_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_above(series["rsi"], self.sell_above)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return self.entry_mask(series) | self.exit_mask(series)


@dataclass(frozen=True, slots=True)
class MacdRule:
    fast: int = 12
    slow: int = 26
    signal: int = 9

    def __post_init__(self) -> None:
        if not (1 <= self.fast < self.slow <= 500 and 1 <= self.signal <= 500):
            raise StrategyConfigError("need 1 <= fast < slow <= 500 and 1 <= signal <= 500")

    def warmup(self) -> int:
        return memory(2 / (self.slow + 1)) + memory(2 / (self.signal + 1))

    def series_key(self) -> Hashable:
        return ("macd", self.fast, self.slow, self.signal)

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        line, signal, _ = macd(candles.close, self.fast, self.slow, self.signal)
        return {"macd_gap": line - signal}

    def entry(self, values: Values) -> bool:
        current, previous = values["macd_gap"]
        return crossed_above(current, previous, 0.0)

    def exit(self, values: Values) -> bool:
        current, previous = values["macd_gap"]
        return crossed_below(current, previous, 0.0)

    def entry_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_above(series["macd_gap"], 0.0)

    def exit_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_below(series["macd_gap"], 0.0)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return self.entry_mask(series) | self.exit_mask(series)


class BollingerExit(StrEnum):
    UPPER = "upper"
    MIDDLE = "middle"


@dataclass(frozen=True, slots=True)
class BollingerRule:
    period: int = 20
    stddev: float = 2.0
    exit_band: BollingerExit = BollingerExit.UPPER

    def __post_init__(self) -> None:
        if not 2 <= self.period <= 500 or not 0 < self.stddev <= 10:
            raise StrategyConfigError("need 2 <= period <= 500 and 0 < stddev <= 10")

    def warmup(self) -> int:
        return self.period + 1

    def series_key(self) -> Hashable:
        return ("bollinger", self.period, self.stddev, self.exit_band.value)

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        middle, upper, lower = bollinger(candles.close, self.period, self.stddev)
        exit_line = upper if self.exit_band is BollingerExit.UPPER else middle
        return {"below_lower": candles.close - lower, "above_exit": candles.close - exit_line}

    def entry(self, values: Values) -> bool:
        return values["below_lower"][0] < 0

    def exit(self, values: Values) -> bool:
        return values["above_exit"][0] > 0

    def entry_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            return series["below_lower"] < 0

    def exit_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            return series["above_exit"] > 0

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return self.entry_mask(series) | self.exit_mask(series)


class AverageKind(StrEnum):
    SMA = "sma"
    EMA = "ema"


@dataclass(frozen=True, slots=True)
class MaCrossRule:
    fast: int = 20
    slow: int = 50
    kind: AverageKind = AverageKind.EMA

    def __post_init__(self) -> None:
        if not 1 <= self.fast < self.slow <= 1000:
            raise StrategyConfigError("need 1 <= fast < slow <= 1000")

    def warmup(self) -> int:
        if self.kind is AverageKind.EMA:
            return memory(2 / (self.slow + 1)) + 1
        return self.slow + 1

    def series_key(self) -> Hashable:
        return ("ma_cross", self.fast, self.slow, self.kind.value)

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        average = ema if self.kind is AverageKind.EMA else sma
        return {"ma_gap": average(candles.close, self.fast) - average(candles.close, self.slow)}

    def entry(self, values: Values) -> bool:
        current, previous = values["ma_gap"]
        return crossed_above(current, previous, 0.0)

    def exit(self, values: Values) -> bool:
        current, previous = values["ma_gap"]
        return crossed_below(current, previous, 0.0)

    def entry_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_above(series["ma_gap"], 0.0)

    def exit_mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return crossings_below(series["ma_gap"], 0.0)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return self.entry_mask(series) | self.exit_mask(series)


def indicators_ready(values: Values) -> bool:
    """Every indicator has a latest and a previous value (warm-up is over)."""
    if not values:
        return False
    for pair in values.values():  # plain loops: this runs at every decision of a backtest
        for value in pair:
            if not math.isfinite(value):
                return False
    return True


def signal_candles(
    rule: SignalRule, series: Mapping[str, Series]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(entries, exits): the candles where ``rule.entry`` / ``rule.exit`` hold on ready values.

    The rule's masks make, for all candles at once, the very comparisons its ``entry``/``exit``
    make per candle; "ready" is ``indicators_ready`` on the (latest, previous) values the backtest
    engine shows ``decide``: every value of every series finite. No other candle can signal, so
    the engine skips them all.
    """
    entries = rule.entry_mask(series)
    ready = np.zeros(entries.shape, dtype=bool)
    ready[1:] = bool(series)  # the first candle has no previous value
    for values in series.values():
        finite = np.isfinite(np.asarray(values, dtype=np.float64))
        ready[1:] &= finite[1:] & finite[:-1]
    return entries & ready, rule.exit_mask(series) & ready
