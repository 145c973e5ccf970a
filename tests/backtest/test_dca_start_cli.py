"""``autogrid backtest --strategy dca`` with an indicator start condition, on real 5m candles:
the rule reads the file's candles (its timeframe is theirs), and the CLI's run is the engine's."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import numpy as np
from click.testing import CliRunner

from autogrid.backtest.cli import backtest_command
from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.exchanges.types import MarketRules
from autogrid.trading.strategies.dca import DcaStrategy
from tests.shared_data import shared_file

DATA = "freqtrade_testdata/XRP_ETH-5m.json"
PARAMS: dict[str, Any] = {
    "base_order_volume": "0.5",
    "safety_order_volume": "0.5",
    "safety_order_step_percentage": "1",
    "max_safety_orders": 3,
    "take_profit": "1",
    "start_condition": {"strategy": "bollinger", "period": 20, "stddev": 2},
}
MARKET_ARGS = ("--symbol", "XRP/ETH", "--price-tick", "0.00000001", "--cash", "10")


def invoke(params: dict[str, Any]) -> tuple[int, str]:
    args = ["--data", str(shared_file(DATA)), "--strategy", "dca", "--params", json.dumps(params)]
    result = CliRunner().invoke(backtest_command, [*args, *MARKET_ARGS, "--json"])
    return result.exit_code, result.output


def test_deals_open_only_after_signals_and_match_the_engine() -> None:
    code, output = invoke(PARAMS)
    assert code == 0, output
    summary = json.loads(output)

    market = MarketRules("XRP/ETH", "XRP", "ETH", D("1E-8"), D("1E-8"), D("1E-8"))
    config = {**PARAMS, "start_condition": {**PARAMS["start_condition"], "timeframe": "5m"}}
    strategy = build_strategy("dca", config, market)
    assert isinstance(strategy, DcaStrategy) and strategy.config.start_condition is not None
    candles = load_candles(shared_file(DATA))
    settings = BacktestSettings(market, D(10), timeframe_ms=300_000)
    run = run_backtest(strategy, candles, settings)
    assert summary["fills"] == len(run.fills) > 0
    start = strategy.config.start_condition
    entries = start.entries(start.series(candles))
    opened = [fill.index for fill in run.fills if fill.tag.endswith(".BO")]
    assert opened and all(entries[index - 1] for index in opened)
    assert opened[0] == int(np.flatnonzero(entries)[0]) + 1  # the first signal, at once


def test_a_start_timeframe_other_than_the_files_is_refused() -> None:
    params = {**PARAMS, "start_condition": {"strategy": "rsi", "timeframe": "1h"}}
    code, output = invoke(params)
    assert code == 2
    assert "does not match the data's 5m" in output and "Traceback" not in output
    bad = {**PARAMS, "start_condition": {"strategy": "rsi", "period": 1}}
    code, output = invoke(bad)
    assert code == 2 and "start_condition: Value error, period must be between 2" in output
