"""Indicator runs walked from signal to signal equal the engine's, digit for digit, on real data;
what the walk does not cover runs the engine."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.backtest.signal_walk import covers, run_fast, walk
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
RULES: list[dict[str, Any]] = [
    {"strategy": "rsi", "period": period, "buy_below": below, "sell_above": above}
    for period, below, above in ((2, 10, 90), (7, 30, 70), (14, 25, 60), (21, 35, 80))
] + [
    {"strategy": "macd", "fast": 12, "slow": 26, "signal": 9},
    {"strategy": "bollinger", "period": 20, "stddev": 2, "exit_band": "middle"},
    {"strategy": "ma_cross", "fast": 5, "slow": 30, "kind": "ema"},
]
SIZINGS: list[dict[str, Any]] = [{"order_pct": 100}, {"order_pct": 37}, {"order_quote": "2500"}]
# Costs and balances that reach the walk's every branch: a gap clipping an all-in buy (no
# slippage), slippage, fees that empty the account until no entry can buy, a starting base.
RUN_SETTINGS = [
    SETTINGS,
    replace(SETTINGS, slippage=Decimal("0.0005")),
    replace(
        SETTINGS,
        market=replace(MARKET, taker_fee=Decimal("0.02")),  # the strategy sizes with this one
        taker_fee=Decimal("0.02"),
        initial_quote=Decimal(100),
    ),
    replace(SETTINGS, initial_base=Decimal("0.5"), maker_fee=Decimal(0)),
]


@pytest.fixture(scope="module")
def candles() -> CandleArrays:
    """30,000 real 1m BTC/USDT candles (about three weeks)."""
    return load_candles(shared_file("binance_BTC_USDT-1m.csv.gz")).window(30_000, 30_000)


def exact(run: BacktestRun) -> tuple[Any, ...]:
    """Everything a run says, Decimals as text: equal digits, not only equal values."""
    return (
        repr(run.fills),
        repr(run.balance_steps),
        repr((run.final_quote, run.final_base, run.fees)),
        run.strategy_state,
        run.stop_reason,
        run.decide_calls,
        run.candles,
    )


def assert_walk_equals_engine(
    config: dict[str, Any], candles: CandleArrays, run_settings: BacktestSettings
) -> BacktestRun:
    strategy = build_strategy("indicator", config, run_settings.market)
    walked = walk(strategy, candles, run_settings)
    assert walked is not None, config
    assert exact(walked) == exact(run_backtest(strategy, candles, run_settings)), config
    return walked


@pytest.mark.parametrize("run_settings", RUN_SETTINGS, ids=["plain", "slippage", "fees", "base"])
def test_walks_equal_the_engine_on_real_candles(
    candles: CandleArrays, run_settings: BacktestSettings
) -> None:
    fills = 0
    for rule in RULES:
        for sizing in SIZINGS:
            fills += len(assert_walk_equals_engine({**rule, **sizing}, candles, run_settings).fills)
    assert fills > 1000  # the comparisons are about trades, not empty runs


def test_an_account_emptied_by_fees_counts_every_later_decision(candles: CandleArrays) -> None:
    """The walk stops at the first entry no budget can ever pay for, and still counts the
    decisions the engine makes at every later entry signal (``decide_calls`` compared)."""
    config = {"strategy": "rsi", "period": 2, "buy_below": 10, "sell_above": 90, "order_pct": 100}
    costly = RUN_SETTINGS[2]
    walked = assert_walk_equals_engine(config, candles, costly)
    assert walked.final_quote < MARKET.min_cost * Decimal("1.02")  # no entry can pay any more
    assert walked.decide_calls > len(walked.fills) + 100  # entries refused after that


def test_a_sweep_sharing_series_walks_as_alone(candles: CandleArrays) -> None:
    memo = SeriesMemo(candles)
    for below in (20, 25, 30, 35):
        config = {"strategy": "rsi", "period": 9, "buy_below": below, "order_pct": 100}
        strategy = build_strategy("indicator", config, MARKET)
        shared = walk(strategy, candles, SETTINGS, memo)
        assert shared is not None
        assert exact(shared) == exact(run_backtest(strategy, candles, SETTINGS))
    assert memo.computed == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    period=st.integers(2, 40),
    below=st.integers(5, 45),
    gap=st.integers(5, 50),
    sizing=st.one_of(
        st.integers(1, 100).map(lambda pct: {"order_pct": pct}),
        st.integers(6, 20_000).map(lambda quote: {"order_quote": str(quote)}),
    ),
    slippage=st.sampled_from(["0", "0.0001", "0.003"]),
    fee=st.sampled_from(["0", "0.00075", "0.001", "0.004"]),
    start=st.integers(0, 25_000),
)
def test_hypothesis_chosen_rsi_walks_equal_the_engine(
    candles: CandleArrays,
    period: int,
    below: int,
    gap: int,
    sizing: dict[str, Any],
    slippage: str,
    fee: str,
    start: int,
) -> None:
    """Any RSI parameters, sizing, costs and stretch of the real candles."""
    config = {
        "strategy": "rsi",
        "period": period,
        "buy_below": below,
        "sell_above": min(below + gap, 99),
        **sizing,
    }
    market = replace(MARKET, taker_fee=Decimal(fee))  # the strategy sizes with the market's fee
    run_settings = replace(
        SETTINGS, market=market, taker_fee=Decimal(fee), slippage=Decimal(slippage)
    )
    part = candles.window(start + 5_000, 5_000)
    assert_walk_equals_engine(config, part, run_settings)


GUARDED = {"strategy": "rsi", "period": 7, "buy_below": 30, "order_pct": 100}


@pytest.mark.parametrize(
    ("bot_type", "config", "run_settings"),
    [
        ("indicator", {**GUARDED, "stop_loss_pct": 2}, SETTINGS),
        ("indicator", {**GUARDED, "take_profit_pct": 3}, SETTINGS),
        ("indicator", GUARDED, replace(SETTINGS, skip_ahead=False)),
        (
            "grid",
            {
                "lower_price": "20000",
                "upper_price": "40000",
                "grid_count": 20,
                "investment": "5000",
            },
            SETTINGS,
        ),
    ],
    ids=["stop-loss", "take-profit", "no-skipping", "grid"],
)
def test_what_the_walk_does_not_cover_runs_the_engine(
    candles: CandleArrays, bot_type: str, config: dict[str, Any], run_settings: BacktestSettings
) -> None:
    part = candles.window(5_000, 5_000)
    strategy = build_strategy(bot_type, config, run_settings.market)
    assert not covers(strategy, run_settings)
    assert walk(strategy, part, run_settings) is None
    assert exact(run_fast(strategy, part, run_settings)) == exact(
        run_backtest(strategy, part, run_settings)
    )


def test_an_order_the_account_refuses_starts_over_in_the_engine(candles: CandleArrays) -> None:
    """The strategy sizes with the market's fee (none here), the account charges the backtest's:
    an all-in buy needs more than the free quote, is refused, and the strategy undoes its entry
    at a later signal: a path only the engine follows."""
    market = replace(MARKET, taker_fee=Decimal(0))
    run_settings = replace(SETTINGS, market=market, taker_fee=Decimal("0.001"))
    config = {"strategy": "rsi", "period": 7, "buy_below": 30, "order_pct": 100}
    strategy = build_strategy("indicator", config, market)
    part = candles.window(5_000, 5_000)
    assert covers(strategy, run_settings)
    assert walk(strategy, part, run_settings) is None
    engine_run = run_backtest(strategy, part, run_settings)
    assert engine_run.decide_calls > 1  # the engine did meet entry signals
    assert exact(run_fast(strategy, part, run_settings)) == exact(engine_run)
