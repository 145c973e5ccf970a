"""When an idle DCA bot may open its next deal: at once, or on an indicator rule's entry signal.

The rule is one of the indicator strategies' own (``signals``), read the same way: on the latest
two closed candles of ``timeframe``, which the runner fetches because the strategy asks for
``candles_needed`` of them (in a backtest, the replayed candles are those candles). Only the
rule's entry is used; the deal's exits are the DCA bot's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from autogrid.market_data.timeframes import Timeframe, ms_to_datetime
from autogrid.trading.strategies.base import CandleWindow, Snapshot
from autogrid.trading.strategies.signals import SignalRule, indicators_ready, signal_candles

Series = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StartCondition:
    rule: SignalRule
    timeframe: Timeframe  # of the candles the rule reads

    def candles_needed(self) -> int:
        return self.rule.warmup()

    def series(self, candles: CandleWindow) -> dict[str, Series]:
        return self.rule.series(candles)

    def entries(self, series: Mapping[str, Series]) -> NDArray[np.bool_]:
        """The candles where ``fires`` can hold (for the backtest engine's skip-ahead)."""
        entries, _ = signal_candles(self.rule, series)
        return entries

    def fires(self, snapshot: Snapshot, not_before: datetime | None) -> bool:
        """The latest closed candle signals an entry, and it closed at or after ``not_before``.

        ``not_before`` is the end of the cooldown. A backtest decides at each candle's close, so
        there it only repeats the cooldown; a runner that decides more often than the rule's
        candles close (a 1m paper replay of a 15m rule, live ticks) would otherwise open a deal
        on the very signal it already used, or one that came during the cooldown.
        """
        values = snapshot.indicators
        if not indicators_ready(values) or not self.rule.entry(values):
            return False
        candles = snapshot.candles
        if not_before is None or candles is None or not len(candles):
            return True
        return ms_to_datetime(int(candles.ts_ms[-1]) + self.timeframe.ms) >= not_before
