"""Technical indicators over 1-D float64 arrays, for live bots and for the backtest engine.

Conventions shared by every function here:
* The result has the input's length; values that are not defined yet (the warm-up) are NaN. The
  first defined index is given in each docstring, and matches TA-Lib's unless it says otherwise.
* Leading NaNs in an input mean "no data yet": the warm-up starts at the first non-NaN value, so
  indicators can be chained (e.g. `ema(rsi(close), 5)`). A NaN after that, or an infinity,
  raises ValueError, as do a period that is not an int >= 1 and arrays of unequal lengths.
* A year of 1-minute candles takes milliseconds: the recursive smoothing is vectorised
  (`_recurrence`) and rolling windows are O(n) without drifting running totals (`_windows`).
* `streaming` holds one-candle-at-a-time states for live bots that equal the batch results.
"""

from autogrid.trading.indicators.averages import ema, sma
from autogrid.trading.indicators.momentum import macd, rsi
from autogrid.trading.indicators.streaming import AtrState, EmaState, MacdState, RsiState
from autogrid.trading.indicators.volatility import atr, bollinger, true_range

__all__ = [
    "AtrState",
    "EmaState",
    "MacdState",
    "RsiState",
    "atr",
    "bollinger",
    "ema",
    "macd",
    "rsi",
    "sma",
    "true_range",
]
