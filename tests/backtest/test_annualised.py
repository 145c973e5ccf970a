"""Figures scaled to a year (CAGR, Sharpe, Sortino, Calmar) only for runs of at least 90 days,
on both sides of that line, over the real BTC/USDT 1m candles."""

from __future__ import annotations

import json
from decimal import Decimal as D
from functools import cache

import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.metrics import MIN_ANNUALISED_DAYS
from autogrid.backtest.report import metric_rows, render_report
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.exchanges.types import MarketRules
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), min_cost=D(5)
)
SETTINGS = BacktestSettings(MARKET, D(10_000))
RSI = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}
MINUTES_IN_90_DAYS = MIN_ANNUALISED_DAYS * 24 * 60
ANNUALISED = ("cagr_pct", "sharpe", "sortino", "calmar")


@cache
def minutes() -> CandleArrays:
    return load_candles(shared_file("binance_BTC_USDT-1m.csv.gz"))


def backtest(candles: int) -> BacktestResult:
    """RSI over the first ``candles`` real minutes: they span ``candles - 1`` minutes from the
    first close to the last."""
    data = minutes().window(candles, candles)
    run = run_backtest(build_strategy("indicator", RSI, MARKET), data, SETTINGS)
    return build_result(run, data, SETTINGS, strategy="rsi")


def test_ninety_days_exactly_are_annualised() -> None:
    result = backtest(MINUTES_IN_90_DAYS + 1)

    assert (result.span_days, result.annualised, result.annualised_note) == (90.0, True, None)
    assert all(getattr(result, name) is not None for name in ANNUALISED)
    assert all(result.summary()[name] is not None for name in ANNUALISED)


def test_a_minute_less_is_not_and_says_why_everywhere() -> None:
    result = backtest(MINUTES_IN_90_DAYS)

    assert result.span_days == pytest.approx(90 - 1 / 1440) and not result.annualised
    assert all(getattr(result, name) is None for name in ANNUALISED)
    assert result.annualised_note is not None and "spans 89.99 days" in result.annualised_note
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert (data["annualised"], data["annualised_note"]) == (False, result.annualised_note)
    assert all(data[name] is None for name in ANNUALISED)
    # The other figures are still there: they do not scale anything to a year.
    assert data["return_pct"] is not None and data["max_drawdown_pct"] > 0
    rows = dict(metric_rows(result))
    for label in ("CAGR", "Sharpe (daily, 365 d)", "Sortino (daily, 365 d)", "Calmar"):
        assert rows[label] == "not given: under 90 days"
    assert "not given: under 90 days" in render_report(result, "short")


def test_three_days_give_no_sharpe_of_thirty() -> None:
    result = backtest(3 * 1440)

    assert result.trades > 5 and result.win_rate is not None  # the trade figures stay
    assert (result.sharpe, result.cagr_pct) == (None, None)
    assert result.annualised_note is not None and "spans 2.99 days" in result.annualised_note
