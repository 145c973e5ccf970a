"""Time parameter sweeps of 100 combinations on a year of 1-minute candles, against vectorbt.

The RSI sweep (10 periods x 10 entry thresholds, exit above 70, all-in market orders filled at
the next candle's open, 0.1 % fees) runs in this one process twice: with vectorbt, in one
vectorised call (its RSI, numpy crossings, ``Portfolio.from_signals``, total returns), and with
our engine, run by run, sharing the indicator series of each period (``SeriesMemo``) as a
sweep's runs on one worker do. The target: ours in at most half of vectorbt's time on one core.
Grid (10 level counts x 10 price ranges) and DCA (10 safety steps x 10 take-profits) sweeps of
100 combinations are timed beside it (vectorbt has no grid or DCA bots to compare with).

vectorbt is a bench-only dependency, not installed by ``make install``:

    .venv/bin/pip install -e '.[bench]'       # or: .venv/bin/pip install vectorbt
    .venv/bin/python bench/bench_sweeps.py [--only rsi,grid,dca] [--alone] [--engine]

Without it the script says "vectorbt not installed" and still times ours. vectorbt's numba
code is compiled by a warm-up call on a few candles first (its compile time is reported apart)
and limited to one thread, as our engine is. The machine may be shared: the CPU time of this
process (``time.process_time``) is printed beside the wall clock and is the steadier figure.
Our figure is engine time (building each run and running it), as for vectorbt; an RSI run without
guards is walked from signal to signal (``signal_walk``, equal to the engine's run to the digit),
and ``--engine`` also times the same runs through the candle-by-candle engine. Before ours, the
process's heap is frozen, as a worker's is once started (``core.heap``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_backtest import CASH, DCA_PARAMS, MARKET, ONE_MINUTE

from autogrid.backtest.engine import BacktestEngine, BacktestSettings
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.backtest.signal_walk import run_fast
from autogrid.backtest.synthetic_year import synthetic_year
from autogrid.core.heap import freeze_startup_heap
from autogrid.trading.candles import CandleArrays

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # one core, like the engine

RSI_PERIODS = list(range(7, 27, 2))  # 7, 9, ... 25
RSI_BELOW = list(range(20, 40, 2))  # 20, 22, ... 38
RSI_ABOVE = 70.0
FEE = 0.001
TARGET_RATIO = 0.5  # ours / vectorbt


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float
    cpu: float
    fills: int = 0

    def line(self, label: str) -> str:
        fills = f"{self.fills:>10,}" if self.fills else f"{'':>10}"
        return f"{label:<44}{self.wall:>9.2f}{self.cpu:>9.2f}{fills}"


def timed(work: Callable[[], int]) -> Timing:
    cpu, wall = time.process_time(), time.perf_counter()
    fills = work()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu, fills)


# --- ours ------------------------------------------------------------------------------------
def rsi_configs() -> list[dict[str, Any]]:
    return [
        {
            "strategy": "rsi",
            "period": period,
            "buy_below": below,
            "sell_above": RSI_ABOVE,
            "order_pct": 100,
        }
        for period in RSI_PERIODS
        for below in RSI_BELOW
    ]


def grid_configs(candles: CandleArrays) -> list[dict[str, Any]]:
    configs = []
    for share in np.linspace(0.0, 0.225, 10):  # price ranges from the whole year's to its middle
        low, high = np.quantile(candles.close, [share, 1 - share])
        for count in range(10, 110, 10):
            configs.append(
                {
                    "lower_price": str(round(float(low) * 0.99, 2)),
                    "upper_price": str(round(float(high) * 1.01, 2)),
                    "grid_count": count,
                    "spacing": "geometric",
                    "investment": "10000",
                    "direction": "neutral",
                }
            )
    return configs


def dca_configs() -> list[dict[str, Any]]:
    steps = [f"{0.5 + 0.25 * i:.2f}" for i in range(10)]
    take_profits = [f"{0.5 + 0.25 * i:.2f}" for i in range(10)]
    return [
        {**DCA_PARAMS, "safety_order_step_percentage": step, "take_profit": take_profit}
        for step in steps
        for take_profit in take_profits
    ]


def ours(
    bot_type: str,
    configs: list[dict[str, Any]],
    candles: CandleArrays,
    *,
    share: bool = True,
    engine_only: bool = False,
) -> Timing:
    """Each run as a sweep's worker runs it (``run_fast``: indicator runs without guards are
    walked from signal to signal, the rest run the engine), or the engine alone."""
    settings = BacktestSettings(MARKET, CASH, maker_fee=_fee(), taker_fee=_fee())
    strategies = [build_strategy(bot_type, config, MARKET) for config in configs]  # not timed
    memo = SeriesMemo(candles) if share else None
    # A sweep's worker process runs its tasks with its start-up heap frozen (``core.heap``); this
    # one also holds vectorbt's, pandas' and numba's (about 600,000 objects), which every full
    # collection during our runs would walk: 5-8 % of their time, spent on a heap no worker has.
    freeze_startup_heap()

    def sweep() -> int:
        fills = 0
        for strategy in strategies:
            if engine_only:
                fills += len(BacktestEngine(strategy, candles, settings, memo).run().fills)
            else:
                fills += len(run_fast(strategy, candles, settings, memo).fills)
        return fills

    return timed(sweep)


def _fee() -> Any:
    from decimal import Decimal

    return Decimal(str(FEE))


# --- vectorbt --------------------------------------------------------------------------------
def vectorbt_rsi(candles: CandleArrays) -> Callable[[], int]:
    """The same sweep as one vectorbt call; returns its number of orders (fills)."""
    import pandas as pd
    import vectorbt as vbt  # type: ignore[import-not-found]

    index = pd.to_datetime(candles.ts_ms, unit="ms")
    close = pd.Series(candles.close, index=index)
    open_ = pd.Series(candles.open, index=index)
    thresholds = np.asarray(RSI_BELOW, dtype=np.float64)

    def sweep() -> int:
        # Wilder's smoothing (ours): an EMA of span 2n - 1 has its alpha, 1/n.
        spans = [2 * period - 1 for period in RSI_PERIODS]
        rsi = vbt.RSI.run(close, window=spans, ewm=True).rsi.to_numpy()
        previous = np.vstack([np.full((1, rsi.shape[1]), np.nan), rsi[:-1]])
        with np.errstate(invalid="ignore"):
            below = (previous[:, :, None] >= thresholds) & (rsi[:, :, None] < thresholds)
            above = (previous <= RSI_ABOVE) & (rsi > RSI_ABOVE)
        rows = rsi.shape[0]
        entries = below.reshape(rows, -1)  # column = period-major, threshold-minor
        exits = np.repeat(above, len(thresholds), axis=1)
        # Decided at a candle's close, filled at the next candle's open, as our engine does.
        entries = np.vstack([np.zeros((1, entries.shape[1]), bool), entries[:-1]])
        exits = np.vstack([np.zeros((1, exits.shape[1]), bool), exits[:-1]])
        portfolio = vbt.Portfolio.from_signals(
            close,
            entries,
            exits,
            price=open_,
            fees=FEE,
            init_cash=float(CASH),
            freq="1min",
        )
        portfolio.total_return()
        return int(portfolio.orders.count().sum())

    return sweep


def have_vectorbt() -> bool:
    return importlib.util.find_spec("vectorbt") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="rsi,grid,dca")
    parser.add_argument("--alone", action="store_true", help="also time RSI runs without sharing")
    parser.add_argument("--engine", action="store_true", help="also time RSI runs in the engine")
    args = parser.parse_args()
    chosen = args.only.split(",")

    candles = synthetic_year(ONE_MINUTE)
    print(f"{len(candles):,} candles (a year of 1m); 100 combinations per sweep; seconds\n")
    print(f"{'sweep':<44}{'wall':>9}{'cpu':>9}{'fills':>10}")
    if "rsi" in chosen:
        rsi_sweep(candles, alone=args.alone, engine=args.engine)
    if "grid" in chosen:
        grid = ours("grid", grid_configs(candles), candles)
        print(grid.line("grid, ours (10 counts x 10 ranges)"))
    if "dca" in chosen:
        print(ours("dca", dca_configs(), candles).line("dca, ours (10 steps x 10 take-profits)"))


def rsi_sweep(candles: CandleArrays, *, alone: bool, engine: bool) -> None:
    vectorbt: Timing | None = None
    if have_vectorbt():
        compile_run = timed(vectorbt_rsi(candles.window(2_000, 2_000)))
        print(compile_run.line("rsi, vectorbt warm-up (numba compile)"))
        vectorbt = timed(vectorbt_rsi(candles))
        print(vectorbt.line("rsi, vectorbt (one vectorised call)"))
    else:
        print("rsi, vectorbt: vectorbt not installed (pip install -e '.[bench]'); ours only")
    mine = ours("indicator", rsi_configs(), candles)
    print(mine.line("rsi, ours (walked, series shared)"))
    if engine:
        through_engine = ours("indicator", rsi_configs(), candles, engine_only=True)
        print(through_engine.line("rsi, ours (engine, series shared)"))
        if through_engine.fills != mine.fills:
            raise SystemExit("the walked runs and the engine's differ")
    if alone:
        print(ours("indicator", rsi_configs(), candles, share=False).line("rsi, ours (alone)"))
    if vectorbt is not None:
        cpu_ratio, wall_ratio = mine.cpu / vectorbt.cpu, mine.wall / vectorbt.wall
        verdict = "met" if cpu_ratio <= TARGET_RATIO else "MISSED"
        print(
            f"\nrsi ours / vectorbt: cpu {cpu_ratio:.2f}, wall {wall_ratio:.2f} "
            f"(target <= {TARGET_RATIO} on cpu: {verdict})"
        )


if __name__ == "__main__":
    main()
