"""Entry and exit rules of the indicator strategies.

Each rule computes its indicator series once (vectorised) and answers two questions with the very
same comparisons: per candle (``entry``/``exit`` on the latest and previous values, used by
``decide``) and for all candles at once (``mask``, used by the backtest engine to skip ahead).
Using one comparison for both is what keeps skipping exact.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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


def _previous(series: Series) -> Series:
    shifted = np.empty_like(series)
    shifted[0] = np.nan
    shifted[1:] = series[:-1]
    return shifted


class SignalRule(Protocol):
    def warmup(self) -> int: ...

    def series(self, candles: CandleWindow) -> dict[str, Series]: ...

    def entry(self, values: Values) -> bool: ...

    def exit(self, values: Values) -> bool: ...

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]: ...


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

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        return {"rsi": rsi(candles.close, self.period)}

    def entry(self, values: Values) -> bool:
        current, previous = values["rsi"]
        return crossed_below(current, previous, self.buy_below)

    def exit(self, values: Values) -> bool:
        current, previous = values["rsi"]
        return crossed_above(current, previous, self.sell_above)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        current = series["rsi"]
        previous = _previous(current)
        with np.errstate(invalid="ignore"):
            down = (previous >= self.buy_below) & (current < self.buy_below)
            up = (previous <= self.sell_above) & (current > self.sell_above)
        return down | up


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

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        line, signal, _ = macd(candles.close, self.fast, self.slow, self.signal)
        return {"macd_gap": line - signal}

    def entry(self, values: Values) -> bool:
        current, previous = values["macd_gap"]
        return crossed_above(current, previous, 0.0)

    def exit(self, values: Values) -> bool:
        current, previous = values["macd_gap"]
        return crossed_below(current, previous, 0.0)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return _zero_crossings(series["macd_gap"])


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

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        middle, upper, lower = bollinger(candles.close, self.period, self.stddev)
        exit_line = upper if self.exit_band is BollingerExit.UPPER else middle
        return {"below_lower": candles.close - lower, "above_exit": candles.close - exit_line}

    def entry(self, values: Values) -> bool:
        return values["below_lower"][0] < 0

    def exit(self, values: Values) -> bool:
        return values["above_exit"][0] > 0

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        with np.errstate(invalid="ignore"):
            return (series["below_lower"] < 0) | (series["above_exit"] > 0)


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

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        average = ema if self.kind is AverageKind.EMA else sma
        return {"ma_gap": average(candles.close, self.fast) - average(candles.close, self.slow)}

    def entry(self, values: Values) -> bool:
        current, previous = values["ma_gap"]
        return crossed_above(current, previous, 0.0)

    def exit(self, values: Values) -> bool:
        current, previous = values["ma_gap"]
        return crossed_below(current, previous, 0.0)

    def mask(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        return _zero_crossings(series["ma_gap"])


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

    Exact by construction: the very same ``entry``/``exit`` calls a strategy's ``decide`` makes,
    on the very same (latest, previous) values the backtest engine shows it, at each candle of
    ``rule.mask`` (no other candle can signal). The engine skips every other candle.
    """
    union = rule.mask(series)
    at = np.flatnonzero(union)
    # (latest, previous) at the signal candles only, as the engine builds them for decide;
    # "ready" as indicators_ready has it: every value of every series finite.
    pairs = {
        name: _pairs_at(np.asarray(values, dtype=np.float64), at) for name, values in series.items()
    }
    ready = np.full(at.shape, bool(pairs))
    for latest, previous in pairs.values():
        ready &= np.isfinite(latest) & np.isfinite(previous)
    columns = {
        name: list(zip(latest[ready].tolist(), previous[ready].tolist(), strict=True))
        for name, (latest, previous) in pairs.items()
    }
    entry_at, exit_at = [], []
    for position, index in enumerate(at[ready].tolist()):
        values = {name: column[position] for name, column in columns.items()}
        if rule.entry(values):
            entry_at.append(index)
        if rule.exit(values):
            exit_at.append(index)
    entries = np.zeros(union.shape, dtype=bool)
    exits = np.zeros(union.shape, dtype=bool)
    entries[entry_at] = True
    exits[exit_at] = True
    return entries, exits


def _pairs_at(series: Series, at: NDArray[np.intp]) -> tuple[Series, Series]:
    previous = np.where(at > 0, series[np.maximum(at - 1, 0)], np.nan)
    return series[at], previous


def _zero_crossings(gap: Series) -> NDArray[np.bool_]:
    previous = _previous(gap)
    with np.errstate(invalid="ignore"):
        up = (previous <= 0) & (gap > 0)
        down = (previous >= 0) & (gap < 0)
    return up | down
