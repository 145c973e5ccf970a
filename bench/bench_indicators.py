"""Time each indicator on a year of 1-minute candles (525,600), as the backtest engine uses them.

The series is the real BTC/USDT 1m file from the shared data directory chained end to end, each
copy rescaled to open at the previous copy's last close. Prints figures only.

    .venv/bin/python bench/bench_indicators.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from autogrid.trading.indicators import (
    RsiState,
    atr,
    bollinger,
    ema,
    macd,
    rsi,
    sma,
    true_range,
)

DATA_FILE = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance_BTC_USDT-1m.csv.gz"
)
LENGTH = 525_600
PRICES = ["open", "high", "low", "close"]


def year_of_minutes() -> dict[str, NDArray[np.float64]]:
    prices = pd.read_csv(DATA_FILE)[PRICES].to_numpy()
    copies = []
    last_close = prices[0, 0]
    for _ in range(-(-LENGTH // len(prices))):
        copy = prices * (last_close / prices[0, 0])
        copies.append(copy)
        last_close = copy[-1, 3]
    chained = np.ascontiguousarray(np.concatenate(copies)[:LENGTH].T)
    return dict(zip(PRICES, chained, strict=True))


def timings(call: Callable[[], object], repeat: int) -> list[float]:
    results = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        results.append(time.perf_counter() - started)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    repeat = parser.parse_args().repeat

    candles = year_of_minutes()
    high, low, close = candles["high"], candles["low"], candles["close"]
    cases: dict[str, Callable[[], object]] = {
        "sma(close, 20)": lambda: sma(close, 20),
        "sma(close, 200)": lambda: sma(close, 200),
        "ema(close, 20)": lambda: ema(close, 20),
        "ema(close, 200)": lambda: ema(close, 200),
        "rsi(close, 14)": lambda: rsi(close, 14),
        "rsi(close, 2)": lambda: rsi(close, 2),
        "macd(close, 12, 26, 9)": lambda: macd(close),
        "bollinger(close, 20, 2.0)": lambda: bollinger(close),
        "bollinger(close, 200, 2.0)": lambda: bollinger(close, 200),
        "true_range(high, low, close)": lambda: true_range(high, low, close),
        "atr(high, low, close, 14)": lambda: atr(high, low, close),
    }
    print(f"{LENGTH:,} 1-minute candles, best and median of {repeat} runs")
    for name, call in cases.items():
        runs = timings(call, repeat)
        print(f"  {name:<30} {min(runs) * 1e3:8.1f} ms  {statistics.median(runs) * 1e3:8.1f} ms")

    def streamed_rsi() -> None:
        state = RsiState(14)
        for value in close.tolist():
            state.update(value)

    single = timings(streamed_rsi, 1)[0]
    print(
        f"  for comparison, RsiState.update() per candle: {single * 1e3:.0f} ms in all, "
        f"{single / LENGTH * 1e6:.2f} us per candle"
    )


if __name__ == "__main__":
    main()
