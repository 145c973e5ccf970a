"""A long series built from a real one: copies chained end to end (benchmarks and their tests).

Each copy is rescaled so that it opens at the previous copy's last close (open, high, low and
close multiplied by ``last_close / first_open`` of the copy; volume unchanged) and its timestamps
continue one step after the previous copy's last candle. The shape of every move is real; only
the level is shifted, so the seams carry no artificial jump.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autogrid.trading.candles import CandleArrays

YEAR_OF_MINUTES = 525_600
MINUTE_MS = 60_000


def chain_copies(source: CandleArrays, length: int, step_ms: int) -> CandleArrays:
    """``length`` candles: ``source`` repeated, each copy rescaled and re-timed to continue."""
    if len(source) < 2:
        raise ValueError("need at least two candles to chain")
    copies = -(-length // len(source))
    prices = np.stack([source.open, source.high, source.low, source.close])
    chained = np.empty((4, copies * len(source)))
    last_close = float(source.open[0])  # the first copy keeps its own level
    for copy in range(copies):
        part = prices * (last_close / float(source.open[0]))
        chained[:, copy * len(source) : (copy + 1) * len(source)] = part
        last_close = float(part[3, -1])
    open_, high, low, close = (np.ascontiguousarray(row[:length]) for row in chained)
    ts = int(source.ts_ms[0]) + np.arange(length, dtype=np.int64) * step_ms
    volume = np.resize(source.volume, length).astype(np.float64)
    return CandleArrays(ts, open_, high, low, close, volume)


def synthetic_year(one_minute_file: Path) -> CandleArrays:
    """A year of 1-minute candles (525,600) chained from a real 1-minute file."""
    from autogrid.backtest.loader import load_candles

    return chain_copies(load_candles(one_minute_file), YEAR_OF_MINUTES, MINUTE_MS)
