"""Runs of a sweep share indicator series computed once per key, and trade exactly as alone."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.exchanges.types import MarketRules
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

MARKET = MarketRules(
    "BTC/USDT",
    "BTC",
    "USDT",
    Decimal("0.00001"),
    Decimal("0.01"),
    Decimal("0.00001"),
    min_cost=Decimal(5),
)
SETTINGS = BacktestSettings(MARKET, Decimal(10_000), timeframe_ms=60_000)
SIZING = {"order_pct": 100, "stop_loss_pct": 2}
RSI_SWEEP = [
    {"strategy": "rsi", "period": period, "buy_below": below, "sell_above": 70, **SIZING}
    for period in (7, 14, 21)
    for below in (25, 30, 35)
]
OTHER_RULES: list[dict[str, Any]] = [
    {"strategy": "macd", "fast": 12, "slow": 26, "signal": 9, **SIZING},
    {"strategy": "macd", "fast": 8, "slow": 26, "signal": 9, **SIZING},
    {"strategy": "bollinger", "period": 20, "stddev": 2, "exit_band": "upper", **SIZING},
    {"strategy": "bollinger", "period": 20, "stddev": 2, "exit_band": "middle", **SIZING},
    {"strategy": "ma_cross", "fast": 20, "slow": 50, "kind": "ema", **SIZING},
    {"strategy": "ma_cross", "fast": 20, "slow": 50, "kind": "sma", **SIZING},
]
DCA_SWEEP: list[dict[str, Any]] = [
    {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": step,
        "max_safety_orders": 5,
        "active_safety_orders_count": 2,
        "take_profit": "1",
        "start_condition": {"strategy": "rsi", "period": 14, "buy_below": below, "timeframe": "1m"},
    }
    for step in ("0.5", "1")
    for below in (30, 40)
]


@pytest.fixture(scope="module")
def candles() -> CandleArrays:
    """The first 100,000 real 1m BTC/USDT candles (about ten weeks)."""
    every = load_candles(shared_file("binance_BTC_USDT-1m.csv.gz"))
    return every.window(100_000, 100_000)


def trades(run: BacktestRun) -> list[tuple[Any, ...]]:
    return [
        (fill.index, fill.tag, fill.side, fill.price, fill.amount, fill.fee) for fill in run.fills
    ]


def alone_and_shared(
    bot_type: str, configs: list[dict[str, Any]], candles: CandleArrays
) -> tuple[list[BacktestRun], list[BacktestRun], SeriesMemo]:
    memo = SeriesMemo(candles)
    alone = [run_backtest(build_strategy(bot_type, c, MARKET), candles, SETTINGS) for c in configs]
    shared = [
        run_backtest(build_strategy(bot_type, c, MARKET), candles, SETTINGS, memo) for c in configs
    ]
    return alone, shared, memo


def test_an_rsi_sweep_computes_one_series_per_period_and_trades_as_each_run_alone(
    candles: CandleArrays,
) -> None:
    alone, shared, memo = alone_and_shared("indicator", RSI_SWEEP, candles)

    assert memo.computed == 3  # periods 7, 14, 21; the thresholds only compare
    assert sum(len(run.fills) for run in alone) > 100  # the sweep trades
    for config, by_itself, in_sweep in zip(RSI_SWEEP, alone, shared, strict=True):
        assert trades(in_sweep) == trades(by_itself), config
        assert (in_sweep.final_quote, in_sweep.final_base) == (
            by_itself.final_quote,
            by_itself.final_base,
        )


def test_rules_whose_series_differ_never_share_them(candles: CandleArrays) -> None:
    alone, shared, memo = alone_and_shared("indicator", OTHER_RULES, candles)

    assert memo.computed == len(OTHER_RULES)
    for config, by_itself, in_sweep in zip(OTHER_RULES, alone, shared, strict=True):
        assert trades(in_sweep) == trades(by_itself), config


def test_dca_starts_share_their_rsi_and_trade_as_alone(candles: CandleArrays) -> None:
    alone, shared, memo = alone_and_shared("dca", DCA_SWEEP, candles)

    assert memo.computed == 1
    assert all(run.fills for run in alone)
    for config, by_itself, in_sweep in zip(DCA_SWEEP, alone, shared, strict=True):
        assert trades(in_sweep) == trades(by_itself), config


def test_shared_series_are_read_only(candles: CandleArrays) -> None:
    memo = SeriesMemo(candles)
    series = memo.indicators(build_strategy("indicator", RSI_SWEEP[0], MARKET))

    with pytest.raises(ValueError, match="read-only"):
        series["rsi"][0] = 1.0
    again = memo.indicators(build_strategy("indicator", RSI_SWEEP[1], MARKET))
    assert again["rsi"] is series["rsi"]
    assert np.isnan(series["rsi"][0])


def test_the_memo_keeps_at_most_its_capacity(candles: CandleArrays) -> None:
    memo = SeriesMemo(candles.window(5_000, 5_000), capacity=2)
    for config in RSI_SWEEP[::3]:  # three periods
        memo.indicators(build_strategy("indicator", config, MARKET))
    memo.indicators(build_strategy("indicator", RSI_SWEEP[0], MARKET))  # the first was dropped

    assert memo.computed == 4
