"""Indicator strategies: signals at the right candles, fills at the next open, skip-ahead exact."""

from __future__ import annotations

from decimal import Decimal as D

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.base import StrategyConfigError
from autogrid.trading.strategies.indicator import IndicatorStrategy, Sizing
from autogrid.trading.strategies.signals import (
    AverageKind,
    BollingerExit,
    BollingerRule,
    MacdRule,
    MaCrossRule,
    RsiRule,
    SignalRule,
)
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))


def naive_rsi(close: list[float], period: int) -> list[float]:
    """Wilder's RSI, written out plainly: seeded with simple means, then smoothed."""
    out = [float("nan")] * len(close)
    gains = [max(close[i] - close[i - 1], 0.0) for i in range(1, len(close))]
    losses = [max(close[i - 1] - close[i], 0.0) for i in range(1, len(close))]
    avg_gain, avg_loss = sum(gains[:period]) / period, sum(losses[:period]) / period
    for i in range(period, len(close)):
        if i > period:
            avg_gain = (avg_gain * (period - 1) + gains[i - 1]) / period
            avg_loss = (avg_loss * (period - 1) + losses[i - 1]) / period
        out[i] = (
            100.0
            if avg_loss == 0 and avg_gain > 0
            else (50.0 if avg_loss == 0 else 100 - 100 / (1 + avg_gain / avg_loss))
        )
    return out


def test_rsi_bot_enters_and_exits_at_the_next_open_after_each_cross() -> None:
    rows = load_csv_rows("binance_BTC_USDT-1h.csv.gz", limit=3_000)
    data = arrays_from_rows(rows.tolist())
    rule = RsiRule(period=14, buy_below=30, sell_above=70)
    strategy = IndicatorStrategy(rule, Sizing(order_quote=D(1000)), MARKET)
    run = run_backtest(strategy, data, BacktestSettings(MARKET, D(10_000), timeframe_ms=3_600_000))
    values = naive_rsi(rows[:, 4].tolist(), 14)
    expected: list[tuple[int, Side]] = []
    long = False
    for i in range(15, len(values) - 1):
        prev, cur = values[i - 1], values[i]
        if not long and prev >= 30 > cur:
            expected.append((i + 1, Side.BUY))
            long = True
        elif long and prev <= 70 < cur:
            expected.append((i + 1, Side.SELL))
            long = False
    assert len(expected) >= 10
    assert [(f.index, f.side) for f in run.fills] == expected
    for fill in run.fills:
        assert fill.price == D(repr(float(rows[fill.index, 1])))  # the next candle's open


@pytest.mark.parametrize(
    "rule",
    [
        RsiRule(14, 30, 70),
        MacdRule(12, 26, 9),
        BollingerRule(20, 2.0, BollingerExit.MIDDLE),
        MaCrossRule(10, 30, AverageKind.SMA),
        MaCrossRule(12, 26, AverageKind.EMA),
    ],
    ids=["rsi", "macd", "bollinger", "sma-cross", "ema-cross"],
)
def test_skip_ahead_equals_every_candle_on_real_data(rule: SignalRule) -> None:
    rows = load_csv_rows("binance_BTC_USDT-5m.csv.gz", limit=12_000)
    data = arrays_from_rows(rows.tolist())
    sizing = Sizing(order_pct=D(100), stop_loss_pct=D(2), take_profit_pct=D(3))
    runs = [
        run_backtest(
            IndicatorStrategy(rule, sizing, MARKET),
            data,
            BacktestSettings(MARKET, D(10_000), timeframe_ms=300_000, skip_ahead=skip),
        )
        for skip in (True, False)
    ]
    fast, reference = runs
    assert len(reference.fills) >= 10
    assert fast.fills == reference.fills
    assert fast.strategy_state == reference.strategy_state
    assert fast.decide_calls < reference.decide_calls


def test_all_in_sizing_spends_the_quote_and_round_trips_balance() -> None:
    rows = load_csv_rows("binance_BTC_USDT-1h.csv.gz", limit=3_000)
    run = run_backtest(
        IndicatorStrategy(RsiRule(), Sizing(order_pct=D(100)), MARKET),
        arrays_from_rows(rows.tolist()),
        BacktestSettings(MARKET, D(10_000), timeframe_ms=3_600_000),
    )
    first_buy = run.fills[0]
    spent = first_buy.price * first_buy.amount + first_buy.fee
    assert D(9_900) < spent <= D(10_000)
    state = run.strategy_state
    if state["phase"] == "flat":
        assert run.final_quote == D(10_000) + D(state["realized_pnl"])
    assert np.isclose(float(state["fees_quote"]), float(run.fees))


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(StrategyConfigError, match="buy_below"):
        RsiRule(14, 70, 30)
    with pytest.raises(StrategyConfigError, match="fast < slow"):
        MacdRule(26, 12, 9)
    with pytest.raises(StrategyConfigError, match="order_pct"):
        IndicatorStrategy(RsiRule(), Sizing(order_pct=D(0)), MARKET)
