"""Time the backtest engine: grid, DCA and RSI bots on a year of 1-minute candles and on each real
file in the shared data directory. Prints figures against the targets; asserts nothing.

The year (525,600 candles) is the real BTC/USDT 1m file chained end to end, each copy rescaled to
continue from the previous close (``autogrid.backtest.synthetic_year``). Timed: building the
engine (indicator series, signal masks) and running it, not loading files nor computing the
metrics afterwards. Best of N runs, wall clock and this process's CPU time (the machine is
shared: CPU time is the steadier figure when others are busy).

    .venv/bin/python bench/bench_backtest.py [--repeat 5] [--only grid,dca,rsi]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from autogrid.backtest.engine import BacktestEngine, BacktestRun, BacktestSettings
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import infer_timeframe_ms, load_candles
from autogrid.backtest.synthetic_year import synthetic_year
from autogrid.exchanges.types import MarketRules
from autogrid.trading.candles import CandleArrays

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
ONE_MINUTE = DATA / "binance_BTC_USDT-1m.csv.gz"
REAL_FILES = (
    "binance_BTC_USDT-1m.csv.gz",
    "binance_BTC_USDT-5m.csv.gz",
    "binance_BTC_USDT-1h.csv.gz",
)
YEAR = "year of 1m (chained)"
# Seconds for the year of 1-minute candles, on one core.
TARGETS = {"grid": 0.5, "dca": 0.5, "rsi": 0.3}
MARKET = MarketRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.00001"),
    Decimal("0.01"),
    Decimal("0.00001"),
    min_cost=Decimal(5),
)
CASH = Decimal(10_000)


def grid_params(candles: CandleArrays) -> dict[str, Any]:
    """100 levels spanning the series' prices, neutral: sells above and buys below from the start,
    so every swing across a level trades."""
    low, high = float(candles.close.min()), float(candles.close.max())
    return {
        "lower_price": str(round(low * 0.99, 2)),
        "upper_price": str(round(high * 1.01, 2)),
        "grid_count": 100,
        "spacing": "geometric",
        "investment": "10000",
        "direction": "neutral",
    }


DCA_PARAMS = {
    "base_order_volume": "100",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "0.5",
    "martingale_volume_coefficient": "1.2",
    "max_safety_orders": 8,
    "active_safety_orders_count": 3,
    "take_profit": "0.5",
    "trailing_take_profit": True,
    "trailing_deviation": "0.2",
}
RSI_PARAMS = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}


@dataclass(frozen=True, slots=True)
class Timing:
    wall: float
    cpu: float
    run: BacktestRun


def best_of(
    bot_type: str, config: dict[str, Any], candles: CandleArrays, tf_ms: int, repeat: int
) -> Timing:
    settings = BacktestSettings(MARKET, CASH, timeframe_ms=tf_ms)
    walls, cpus = [], []
    run = None
    for _ in range(repeat):
        strategy = build_strategy(bot_type, config, MARKET)  # fresh: no warm caches
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        run = BacktestEngine(strategy, candles, settings).run()
        walls.append(time.perf_counter() - wall_start)
        cpus.append(time.process_time() - cpu_start)
    assert run is not None
    return Timing(min(walls), min(cpus), run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="grid,dca,rsi")
    args = parser.parse_args()
    chosen = args.only.split(",")

    started = time.perf_counter()
    series: list[tuple[str, CandleArrays, int]] = [(YEAR, synthetic_year(ONE_MINUTE), 60_000)]
    for name in REAL_FILES:
        candles = load_candles(DATA / name)
        series.append((name, candles, infer_timeframe_ms(candles.ts_ms)))
    print(f"loaded and chained the data in {time.perf_counter() - started:.2f} s (not timed below)")
    print(f"best of {args.repeat}; target = seconds for the year on one core\n")
    header = f"{'series':<28}{'candles':>9}  {'bot':<5}{'wall s':>8}{'cpu s':>8}"
    print(header + f"{'candles/s':>12}{'fills':>8}{'decides':>9}  target")
    for label, candles, tf_ms in series:
        configs = {
            "grid": ("grid", grid_params(candles)),
            "dca": ("dca", DCA_PARAMS),
            "rsi": ("indicator", RSI_PARAMS),
        }
        for bot in chosen:
            bot_type, config = configs[bot]
            timing = best_of(bot_type, config, candles, tf_ms, args.repeat)
            rate = len(candles) / timing.wall
            verdict = ""
            if label == YEAR:
                target = TARGETS[bot]
                verdict = f"{target:.1f} s {'met' if timing.wall <= target else 'MISSED'}"
                verdict += "" if timing.wall <= target else f" (cpu {timing.cpu:.3f} s)"
            print(
                f"{label:<28}{len(candles):>9,}  {bot:<5}{timing.wall:>8.3f}{timing.cpu:>8.3f}"
                f"{rate / 1e6:>10.2f} M{len(timing.run.fills):>8,}{timing.run.decide_calls:>9,}"
                f"  {verdict}"
            )


if __name__ == "__main__":
    main()
