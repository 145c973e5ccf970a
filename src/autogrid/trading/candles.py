"""Candles as numpy columns: what indicators, strategies and the backtest simulator read.

Prices are float64 here on purpose: money stays ``Decimal`` everywhere else and is converted at
the edges that hand candles over (the loader, the database, the simulator's fills).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class CandleArrays:
    ts_ms: NDArray[np.int64]  # candle open time, ms since the epoch, UTC, ascending
    open: NDArray[np.float64]
    high: NDArray[np.float64]
    low: NDArray[np.float64]
    close: NDArray[np.float64]
    volume: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.ts_ms.shape[0])

    @classmethod
    def empty(cls) -> CandleArrays:
        prices = [np.empty(0, dtype=np.float64) for _ in range(5)]
        return cls(np.empty(0, dtype=np.int64), *prices)

    def window(self, end: int, length: int) -> CandleArrays:
        """The ``length`` candles before index ``end`` (views, no copy)."""
        start = max(0, end - length)
        return CandleArrays(
            self.ts_ms[start:end],
            self.open[start:end],
            self.high[start:end],
            self.low[start:end],
            self.close[start:end],
            self.volume[start:end],
        )


def arrays_from_rows(rows: Sequence[Sequence[float]]) -> CandleArrays:
    """Candle arrays from rows of (ts_ms, open, high, low, close, volume)."""
    data = np.asarray(rows, dtype=np.float64)
    return CandleArrays(
        data[:, 0].astype(np.int64),
        data[:, 1].copy(),
        data[:, 2].copy(),
        data[:, 3].copy(),
        data[:, 4].copy(),
        data[:, 5].copy(),
    )
