"""DCA backtests over the real BTC/USDT files, ordinary settings: a take profit and a safety order
filling in the same candle (issue 9, finding 3) happens there many times; every run completes,
the deal's books match the account, and every take profit is a profit."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal as D
from functools import cache

import pytest

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import infer_timeframe_ms, load_candles
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
SETTINGS = [
    (tp, step, active) for tp in ("1", "2", "3") for step in ("1", "2") for active in (1, 3)
]


@cache
def candles(name: str) -> tuple[CandleArrays, int]:
    loaded = load_candles(shared_file(name))
    return loaded, infer_timeframe_ms(loaded.ts_ms)


def backtest(data: CandleArrays, tf_ms: int, tp: str, step: str, active: int) -> BacktestRun:
    params = {
        "base_order_volume": "100",
        "safety_order_volume": "100",
        "safety_order_step_percentage": step,
        "max_safety_orders": 5,
        "active_safety_orders_count": active,
        "take_profit": tp,
    }
    strategy = build_strategy("dca", params, MARKET)
    return run_backtest(strategy, data, BacktestSettings(MARKET, D(10_000), timeframe_ms=tf_ms))


def together(run: BacktestRun) -> int:
    """Candles where a deal's take profit and one of its safety orders both filled."""
    kinds: dict[tuple[int, str], set[str]] = defaultdict(set)
    for fill in run.fills:
        deal, _, kind = fill.tag.partition(".")
        kinds[(fill.index, deal)].add(kind[:2])
    return sum(1 for seen in kinds.values() if {"TP", "SO"} <= seen)


def check_books(run: BacktestRun) -> None:
    state = run.strategy_state
    held = D(state["net_base"]) if state["phase"] in {"in_deal", "closing"} else D(0)
    assert run.final_base == held  # fees in quote and amounts on the step: no dust either
    for deal in state["deals"]:
        assert D(deal["profit"]) > 0 or deal["close_reason"] != "take_profit", deal
    sold = sum(f.amount for f in run.fills if f.side is Side.SELL)
    bought = sum(f.amount for f in run.fills if f.side is Side.BUY)
    assert bought - sold == run.final_base


@pytest.mark.parametrize(("tp", "step", "active"), SETTINGS)
def test_dca_over_the_real_hourly_file(tp: str, step: str, active: int) -> None:
    data, tf_ms = candles("binance_BTC_USDT-1h.csv.gz")
    run = backtest(data, tf_ms, tp, step, active)
    check_books(run)
    assert len(run.strategy_state["deals"]) > 100
    assert together(run) > 0


def test_dca_over_a_slice_of_the_real_5m_file() -> None:
    data, tf_ms = candles("binance_BTC_USDT-5m.csv.gz")
    piece = data.window(20_000, 20_000)  # the first 20,000 candles (about 10 weeks)
    run = backtest(piece, tf_ms, "0.5", "1", 1)
    check_books(run)
    assert together(run) >= 2
