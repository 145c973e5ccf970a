"""What the runs of a sweep over the same candles share: indicator series computed once per key.

A strategy with ``series_key()`` says what its ``indicators`` depend on (an RSI bot: the period,
not its thresholds); runs whose keys are equal get the very same arrays, so a 10 periods x 10
thresholds sweep computes ten RSI series, not a hundred. The arrays are made read-only: a run
that tried to change a shared series would raise instead of silently changing its neighbours'.
A strategy without the hook computes its own series, as when run alone.

Signal masks stay per run: comparing a shared series with one run's thresholds costs about 2 %
of an RSI run on a year of 1m candles, so computing them across thresholds would save little.

Bounded: at most ``capacity`` keys are kept (least recently used dropped), so a sweep over many
periods holds a few series of the candles at once, not all of them.

Shared by the threads of a threads pool (the embedded worker): the table is changed under a lock,
a series computed outside it (two threads asking for the same new key may both compute it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autogrid.trading.candles import CandleArrays

Series = dict[str, NDArray[np.float64]]
DEFAULT_CAPACITY = 16  # a year of 1m candles: ~4 MB a series, ~70 MB for the lot


class SeriesMemo:
    """Indicator series of one candle series, by the strategies' ``series_key``."""

    def __init__(self, candles: CandleArrays, capacity: int = DEFAULT_CAPACITY) -> None:
        self.candles = candles
        self.capacity = capacity
        self._series: OrderedDict[Hashable, Series] = OrderedDict()
        self._lock = threading.Lock()  # the table's (see the module)
        self.computed = 0  # how many series sets were computed (the rest were shared)

    def indicators(self, strategy: Any) -> Series:
        """``strategy.indicators`` over the whole series, shared with equal-keyed strategies."""
        candles = self.candles
        key_of = getattr(strategy, "series_key", None)
        if key_of is None:
            series: Series = strategy.indicators(candles.window(len(candles), len(candles)))
            return series
        key = (type(strategy).__name__, key_of())
        with self._lock:
            found = self._series.get(key)
            if found is not None:
                self._series.move_to_end(key)
                return found
        computed = strategy.indicators(candles.window(len(candles), len(candles)))
        shared: Series = {}
        for name, values in computed.items():
            array = np.array(values, dtype=np.float64)  # our own copy, then frozen
            array.flags.writeable = False
            shared[name] = array
        with self._lock:
            self.computed += 1
            self._series[key] = shared
            while len(self._series) > self.capacity:
                self._series.popitem(last=False)
        return shared
