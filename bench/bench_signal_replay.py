"""Time a signal replay: N signals (buys with stop-loss and take-profits, sells, closes) over the
real BTC/USDT 1m file. Timed: parsing the bodies and running the engine with the signal bot.
Best of N runs, wall clock and this process's CPU time (the steadier figure on a shared
machine). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_signal_replay.py [--signals 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from autogrid.backtest.engine import BacktestSettings
from autogrid.backtest.loader import infer_timeframe_ms, load_candles
from autogrid.backtest.signal_replay import ReplaySignal, replay_signals
from autogrid.exchanges.types import MarketRules
from autogrid.trading.candles import CandleArrays

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ONE_MINUTE = DATA / "binance_BTC_USDT-1m.csv.gz"
MARKET = MarketRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.00001"),
    Decimal("0.01"),
    Decimal("0.00001"),
    None,
    Decimal(5),
)


def bodies(count: int, candles: CandleArrays) -> list[ReplaySignal]:
    """Every third a limit buy at the last close with a stop and two targets, then a half
    sell, then a close."""
    start = datetime.fromtimestamp(int(candles.ts_ms[0]) / 1000, UTC)
    span = timedelta(milliseconds=int(candles.ts_ms[-1] - candles.ts_ms[0]))
    chooser = random.Random(7)
    items = []
    for index in range(count):
        at = start + span * (index + chooser.random()) / count
        kind = index % 3
        if kind == 0:
            due_ms = int(candles.ts_ms[0]) + (at - start).total_seconds() * 1000
            row = int(np.searchsorted(candles.ts_ms, due_ms))
            price = float(candles.close[max(0, row - 1)])
            body = (
                f"BUY BTC/USDT @ {price:.2f} SL {price * 0.97:.2f} "
                f"TP1 {price * 1.02:.2f} TP2 {price * 1.04:.2f}"
            )
        elif kind == 1:
            body = "SIGNAL=SELL\nVOLUME=50%"
        else:
            body = '{"action": "sell", "ticker": "BTCUSDT", "market_position": "flat"}'
        items.append(ReplaySignal(at, body))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--signals", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    candles = load_candles(ONE_MINUTE)
    timeframe = infer_timeframe_ms(candles.ts_ms)
    items = bodies(args.signals, candles)
    settings = BacktestSettings(MARKET, Decimal(10_000), timeframe_ms=timeframe)
    best_wall = best_cpu = float("inf")
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = replay_signals(items, candles, settings)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        f"{len(candles)} candles, {len(items)} signals: {len(result.run.fills)} fills, "
        f"{result.run.decide_calls} decisions; best wall {best_wall:.3f} s, cpu {best_cpu:.3f} s"
    )


if __name__ == "__main__":
    main()
