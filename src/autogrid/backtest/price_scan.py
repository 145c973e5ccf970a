"""Where a price is first reached: the backtest's skip-ahead scan over candle series.

Events often come within a few candles (a trailing peak, a busy grid), so the first candles are
looked at one by one; past them, chunks growing fourfold are compared with numpy, so a long quiet
stretch costs a few vectorised comparisons, not a Python step per candle.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

# (series, level, at_or_below): the candle reaches the level when series <= level (True) or
# series >= level (False).
PriceTest = tuple[NDArray[np.float64], float, bool]

_PROBE = 4
_FIRST_SCAN = 64
_MAX_SCAN = 1 << 16


def first_crossing(tests: Sequence[PriceTest], start: int, stop: int) -> int | None:
    """First index in [start, stop) where any test's series reaches its level."""
    # Events often come within a few candles (a trailing peak, a busy grid): look at those
    # one by one before paying numpy's per-call overhead on a chunk.
    probe_end = min(stop, start + _PROBE)
    for index in range(start, probe_end):
        for series, level, at_or_below in tests:
            value = series[index]
            if (value <= level) if at_or_below else (value >= level):
                return index
    size, position = _FIRST_SCAN, probe_end
    while position < stop:
        end = min(stop, position + size)
        hit: NDArray[np.bool_] | None = None
        for series, level, at_or_below in tests:
            window = series[position:end]
            found = window <= level if at_or_below else window >= level
            hit = found if hit is None else hit | found
        assert hit is not None
        first = int(hit.argmax())
        if hit[first]:
            return position + first
        position = end
        size = min(size * 4, _MAX_SCAN)
    return None
