"""The chained year the benchmarks run on: long enough, continuous, and real inside each copy."""

from __future__ import annotations

import numpy as np

from autogrid.backtest.loader import load_candles
from autogrid.backtest.synthetic_year import MINUTE_MS, YEAR_OF_MINUTES, synthetic_year
from tests.shared_data import shared_file


def test_a_year_of_minutes_chained_from_the_real_file() -> None:
    path = shared_file("binance_BTC_USDT-1m.csv.gz")
    source = load_candles(path)
    year = synthetic_year(path)
    assert len(year) == YEAR_OF_MINUTES == 525_600
    steps = np.diff(year.ts_ms)
    assert (steps == MINUTE_MS).all()  # strictly increasing, minute by minute
    assert year.ts_ms[0] == source.ts_ms[0]
    size = len(source)
    # The first copy is the file itself; each later one opens at the previous copy's last close.
    assert np.array_equal(year.close[:size], source.close)
    for seam in range(size, YEAR_OF_MINUTES, size):
        assert year.open[seam] == year.close[seam - 1]
        # ...and keeps the real moves: every price is the source's times one factor.
        factor = year.open[seam] / source.open[0]
        end = min(seam + size, YEAR_OF_MINUTES)
        assert np.allclose(year.high[seam:end], source.high[: end - seam] * factor, rtol=1e-12)
    assert (year.low <= np.minimum(year.open, year.close)).all()
    assert (year.high >= np.maximum(year.open, year.close)).all()
    assert (year.low > 0).all()
