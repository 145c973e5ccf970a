"""Time building a sweep run's stored figures (``build_result(..., figures_only=True)``) for real
runs over a year of 1-minute candles (the real file's copies chained, as the sweep benchmark's
year), apart from the engine: CPU milliseconds per build, the best of ``--repeat``.

    PYTHONPATH=src .venv/bin/python bench/profile_sweep_results.py [--profile] [--dump FILE]

``--sweep`` times the 100 runs of ``bench_sweep_worker``'s RSI sweep instead of a few
strategies' runs. ``--after-run`` times one build right after each run's engine, as a worker
builds it: the best of several builds hides what follows an engine run (a heap full of its
objects for the garbage collector to walk, caches holding other data), about half again.
``--dump FILE`` writes every case's stored figures, full results (curves, closed trades) and
fills to FILE (JSON), to compare two versions of the code digit for digit.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import time
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from bench_backtest import CASH, MARKET, ONE_MINUTE

from autogrid.backtest.engine import BacktestRun, BacktestSettings
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.results import build_result
from autogrid.backtest.signal_walk import run_fast
from autogrid.backtest.synthetic_year import synthetic_year

SETTINGS = BacktestSettings(MARKET, CASH, maker_fee=D("0.001"), taker_fee=D("0.001"))
GRID = {"lower_price": "95000", "upper_price": "112000", "investment": "5000"}
DCA = {
    "base_order_volume": "100",
    "safety_order_volume": "150",
    "max_safety_orders": 5,
    "active_safety_orders_count": 2,
}
CASES: list[tuple[str, dict[str, Any]]] = [
    ("indicator", {"strategy": "rsi", "order_pct": 100, "period": 14, "buy_below": 30}),
    ("indicator", {"strategy": "rsi", "order_pct": 100, "period": 7, "buy_below": 38}),
    ("indicator", {"strategy": "macd", "fast": 12, "slow": 26, "signal": 9, "order_pct": 100}),
    ("grid", {**GRID, "grid_count": 20}),
    ("grid", {**GRID, "grid_count": 60, "direction": "neutral"}),
    ("dca", {**DCA, "safety_order_step_percentage": "0.8", "take_profit": "1"}),
]


def sweep_cases() -> list[tuple[str, dict[str, Any]]]:
    """The RSI sweep ``bench_sweep_worker`` times by default (100 runs)."""
    periods, belows = [7, 9, 11, 14, 17, 21, 25, 30, 35, 40], range(20, 40, 2)
    sizing = {"strategy": "rsi", "order_pct": 100}
    return [
        ("indicator", {**sizing, "period": period, "buy_below": below})
        for period in periods
        for below in belows
    ]


def runs(cases: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, BacktestRun]]:
    candles = YEAR
    made = []
    for bot_type, config in cases:
        strategy = build_strategy(bot_type, config, MARKET)
        made.append((f"{bot_type} {config}", run_fast(strategy, candles, SETTINGS, None)))
    return made


def after_run_ms(cases: list[tuple[str, dict[str, Any]]]) -> float:
    """CPU milliseconds of one build right after its run's engine, on average over the cases."""
    total = 0.0
    for bot_type, config in cases:
        run = run_fast(build_strategy(bot_type, config, MARKET), YEAR, SETTINGS, None)
        cpu = time.process_time()
        build_result(run, YEAR, SETTINGS, strategy="x", run_seconds=0.5, figures_only=True)
        total += time.process_time() - cpu
    return total / len(cases) * 1000


def build_ms(run: BacktestRun, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        cpu = time.process_time()
        build_result(run, YEAR, SETTINGS, strategy="x", run_seconds=0.5, figures_only=True)
        best = min(best, time.process_time() - cpu)
    return best * 1000


def dump(made: list[tuple[str, BacktestRun]], path: Path) -> None:
    out = {}
    for label, run in made:
        lean = build_result(run, YEAR, SETTINGS, strategy="x", run_seconds=0.5, figures_only=True)
        full = build_result(run, YEAR, SETTINGS, strategy="x", run_seconds=0.5)
        out[label] = {
            "figures": lean.summary_dict(),
            "full": full.to_dict(),
            "fills": [repr(fill) for fill in full.fill_records],
            "equity": full.equity_curve.values.tolist(),
        }
    path.write_text(json.dumps(out, indent=0, sort_keys=True, default=str))


YEAR = synthetic_year(ONE_MINUTE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path)
    parser.add_argument("--sweep", action="store_true", help="the 100 runs of the RSI sweep")
    parser.add_argument("--after-run", action="store_true", help="one build after each run")
    args = parser.parse_args()
    if args.after_run:
        ms = after_run_ms(sweep_cases() if args.sweep else CASES)
        print(f"{ms:7.2f} ms a build right after its run, on average")
        return
    made = runs(sweep_cases() if args.sweep else CASES)
    if args.dump:
        dump(made, args.dump)
    total = 0.0
    for label, run in made:
        ms = build_ms(run, args.repeat)
        total += ms
        if not args.sweep:
            fills, steps = len(run.fills), len(run.balance_steps)
            print(f"{ms:7.2f} ms  {fills:6d} fills {steps:6d} steps  {label}")
    print(f"{total / len(made):7.2f} ms a build on average")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(20):
            for _, run in made:
                build_result(run, YEAR, SETTINGS, strategy="x", run_seconds=0.5, figures_only=True)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
