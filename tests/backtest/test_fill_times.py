"""Trades are stamped with the open time of the candle they filled in, checked against the real
BTC/USDT candle file read on its own (the file's timestamp is each candle's open time): a fill at
a candle's open carries exactly that candle's time, as a chart shows it, not the close one candle
later; the CSV of the command line says the same."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timedelta
from decimal import Decimal as D
from functools import cache
from pathlib import Path

import pytest
from click.testing import CliRunner

from autogrid.backtest.cli import backtest_command
from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.backtest.run_spec import RunSpec, full_results
from autogrid.backtest.trades import iso_utc
from autogrid.exchanges.types import MarketRules, Side
from autogrid.market_data.timeframes import ms_to_datetime
from autogrid.trading.candles import CandleArrays
from tests.shared_data import shared_file

FILE = "binance_BTC_USDT-1m.csv.gz"
ROWS = 20_000
MINUTE = timedelta(minutes=1)
MARKET = MarketRules(
    "BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), min_cost=D(5)
)
SETTINGS = BacktestSettings(MARKET, D(10_000))  # no slippage: a market order fills at the open
RSI = {"strategy": "rsi", "period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100}


@cache
def file_candles() -> dict[int, tuple[D, D, D]]:
    """open, high, low by open time (ms), as the file writes them."""
    with gzip.open(shared_file(FILE), "rt", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        rows = [next(reader) for _ in range(ROWS)]
    return {int(ts): (D(o), D(h), D(low)) for ts, o, h, low, _, _ in rows}


def candle_at(moment: datetime | str) -> tuple[D, D, D]:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return file_candles()[int(moment.timestamp() * 1000)]


def backtest(bot_type: str, config: dict[str, object]) -> BacktestResult:
    candles = load_candles(shared_file(FILE)).window(ROWS, ROWS)
    strategy = build_strategy(bot_type, config, MARKET)
    run = run_backtest(strategy, candles, SETTINGS)
    return build_result(run, candles, SETTINGS, strategy=bot_type)


def test_a_market_fill_carries_the_open_time_of_the_candle_whose_open_it_paid() -> None:
    result = backtest("indicator", RSI)

    assert len(result.closed_trades) > 20
    for trade in result.closed_trades:
        entry_open, _, _ = candle_at(trade.entry_time)
        exit_open, _, _ = candle_at(trade.exit_time)
        assert (entry_open, exit_open) == (trade.entry_price, trade.exit_price)
    for fill in result.fill_records:  # what the report's chart marks
        assert candle_at(fill.ts)[0] == fill.price
    data = result.to_dict()["closed_trades"][0]
    assert candle_at(data["entry_time"])[0] == D(data["entry_price"])


def test_a_limit_fill_carries_the_open_time_of_the_candle_that_reached_its_price() -> None:
    grid = {"lower_price": "100000", "upper_price": "110000", "grid_count": 40}
    result = backtest("grid", {**grid, "investment": "10000", "direction": "long"})

    assert len(result.fill_records) > 100
    inside = 0
    for fill in result.fill_records:
        opened, high, low = candle_at(fill.ts)
        if fill.side is Side.BUY:
            assert low <= fill.price <= opened or fill.price == opened
        else:
            assert opened <= fill.price <= high or fill.price == opened
        inside += fill.price != opened
    assert inside > 100  # most grid fills happen inside their candle, not at its open


def test_the_trades_csv_stamps_each_trade_with_its_candles_open(tmp_path: Path) -> None:
    data = tmp_path / "slice.csv.gz"
    with gzip.open(shared_file(FILE), "rt") as source, gzip.open(data, "wt") as target:
        target.writelines(next(source) for _ in range(ROWS + 1))
    trades_csv = tmp_path / "trades.csv"
    params = json.dumps({key: value for key, value in RSI.items() if key != "strategy"})
    args = ["--data", str(data), "--strategy", "rsi", "--params", params]

    outcome = CliRunner().invoke(backtest_command, [*args, "--trades-csv", str(trades_csv)])

    assert outcome.exit_code == 0, outcome.output
    with trades_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 20
    for row in rows:
        assert candle_at(row["entry_time"])[0] == D(row["entry_price"])
        assert candle_at(row["exit_time"])[0] == D(row["exit_price"])


def spec_of(bot_type: str, config: dict[str, object], candles: CandleArrays) -> RunSpec:
    first, last = (ms_to_datetime(int(candles.ts_ms[i])) for i in (0, -1))
    return RunSpec(bot_type, config, "binance", "BTC/USDT", "1m", first, last, SETTINGS)


@pytest.mark.parametrize("bot_type", ["indicator", "signal"])
def test_a_sweep_run_opened_again_and_a_signal_list_stamp_their_trades_at_the_candles_open(
    bot_type: str,
) -> None:
    """The paths a stored backtest takes besides a plain run: a sweep's run stores its figures
    and is run again when opened (``on_demand.remake``: ``spec.run``, ``spec.result``,
    ``full_results``); a signal list replays through the signal bot. Both market-fill at a
    candle's open, and both name that candle's open time, in the results and in the report."""
    candles = load_candles(shared_file(FILE)).window(ROWS, ROWS)
    config: dict[str, object] = dict(RSI)
    if bot_type == "signal":
        at = [ms_to_datetime(int(candles.ts_ms[i])) for i in (100, 400, 1000, 1500)]
        bodies = ["SIGNAL=BUY\nVOLUME=0.01", "SIGNAL=SELL"] * 2
        # Mid-candle: a signal is delivered at the next candle's open.
        signals = [
            {"at": (t - MINUTE / 2).isoformat(), "body": b} for t, b in zip(at, bodies, strict=True)
        ]
        config = {"signals": signals}
    spec = spec_of(bot_type, config, candles)

    run = spec.run(candles)
    figures = spec.figures(run, candles, 0.0)  # what the sweep stored
    results, report = full_results(spec, spec.result(run, candles, None), run)  # opened

    trades = results["closed_trades"]
    assert len(trades) == figures["closed_trades_total"] >= (2 if bot_type == "signal" else 20)
    for trade in trades:
        assert candle_at(trade["entry_time"])[0] == D(trade["entry_price"])
        assert candle_at(trade["exit_time"])[0] == D(trade["exit_price"])
    if bot_type == "signal":
        assert [trade["entry_time"] for trade in trades] == [iso_utc(t) for t in (at[0], at[2])]
    # The report's trade table and CSV download carry the same times.
    assert all(trade["entry_time"] in report for trade in trades)
