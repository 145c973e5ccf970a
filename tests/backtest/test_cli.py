"""``autogrid backtest`` end to end on real candles, through click's runner."""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from autogrid.backtest.cli import backtest_command
from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.loader import load_candles
from autogrid.backtest.results import build_result
from autogrid.exchanges.types import MarketRules
from tests.shared_data import shared_file

RSI = json.dumps({"period": 14, "buy_below": 30, "sell_above": 70, "order_pct": 100})
GRID = json.dumps(
    {"lower_price": 100000, "upper_price": 112000, "grid_count": 40, "investment": 5000}
)


@pytest.fixture(scope="module")
def minutes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 20,000 real 1m candles as a gzipped CSV of their own."""
    with gzip.open(shared_file("binance_BTC_USDT-1m.csv.gz"), "rt") as source:
        lines = [next(source) for _ in range(20_001)]
    path = tmp_path_factory.mktemp("data") / "slice-1m.csv.gz"
    with gzip.open(path, "wt") as target:
        target.writelines(lines)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(backtest_command, list(args))
    return result.exit_code, result.output


def test_rsi_json_and_trades_csv_agree_with_the_engine(minutes: Path, tmp_path: Path) -> None:
    trades_csv = tmp_path / "trades.csv"
    args = ["--data", str(minutes), "--strategy", "rsi", "--params", RSI, "--fee", "0.00075"]
    code, output = invoke(*args, "--cash", "2500", "--json", "--trades-csv", str(trades_csv))
    assert code == 0, output
    summary = json.loads(output)
    for key in ("trades", "final_equity", "return_pct", "max_drawdown_pct", "win_rate", "fees"):
        assert key in summary
    assert summary["run_seconds"] > 0 and summary["timeframe"] == "1m"
    assert summary["candles"] == 20_000 and summary["trades"] > 20
    with trades_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == summary["trades"]
    assert list(rows[0])[:6] == [
        "entry_time",
        "exit_time",
        "entry_price",
        "exit_price",
        "amount",
        "pnl",
    ]
    assert rows[0]["entry_time"].endswith("Z") and rows[0]["entry_time"] < rows[0]["exit_time"]
    # The same backtest run directly gives the same money, to the last digit.
    fee = D("0.00075")
    market = MarketRules(
        "BTC/USDT", "BTC", "USDT", D("1E-8"), D("0.01"), D("1E-8"), maker_fee=fee, taker_fee=fee
    )
    candles = load_candles(minutes)
    settings = BacktestSettings(market, D(2500), maker_fee=fee, taker_fee=fee)
    run = run_backtest(
        build_strategy("indicator", {**json.loads(RSI), "strategy": "rsi"}, market),
        candles,
        settings,
    )
    last_close = D(repr(float(candles.close[-1])))
    assert D(summary["final_equity"]) == run.final_quote + run.final_base * last_close
    assert D(summary["fees"]) == run.fees
    # Each exit sells the whole entry, so the trades' P&L adds up to the bot's realized P&L.
    assert sum(D(row["pnl"]) for row in rows) == D(run.strategy_state["realized_pnl"])


def test_grid_table_and_html_report(minutes: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    args = ["--data", str(minutes), "--strategy", "grid", "--params", GRID]
    code, output = invoke(*args, "--report", str(report))
    assert code == 0, output
    assert "grid on BTC/USDT 1m" in output
    for label in ("Final equity", "Max drawdown", "Win rate", "Grid profit", "Engine time"):
        assert label in output
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    # The setup says which file and config it ran: two reports of the CLI can be told apart.
    assert f"the candle file {minutes.name}" in page and "grid_count" in page
    assert "grid levels:" in page


def test_freqtrade_json_file_with_dca(tmp_path: Path) -> None:
    data = shared_file("freqtrade_testdata/XRP_ETH-5m.json")
    params = {
        "base_order_volume": "0.5",
        "safety_order_volume": "0.5",
        "safety_order_step_percentage": "1",
        "max_safety_orders": 3,
        "take_profit": "1",
    }
    code, output = invoke(
        "--data", str(data), "--strategy", "dca", "--params", json.dumps(params),
        "--symbol", "XRP/ETH", "--price-tick", "0.00000001", "--cash", "10", "--json",
    )  # fmt: skip
    assert code == 0, output
    summary = json.loads(output)
    assert summary["symbol"] == "XRP/ETH" and summary["timeframe"] == "5m"
    assert summary["fills"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "rsi", "--params", '{"period": 1}'], "period must be between 2 and 500"),
        (["--strategy", "rsi", "--params", '{"perod": 14}'], "perod: Extra inputs"),
        (["--strategy", "grid", "--params", '{"lower_price": 1}'], "upper_price: Field required"),
        (["--strategy", "rsi", "--params", "{period: 14}"], "not valid JSON"),
        (["--strategy", "rsi", "--params", "[14]"], "expected a JSON object"),
        (["--strategy", "rsi", "--params", "{}", "--fee", "abc"], "'abc' is not a number"),
        (["--strategy", "rsi", "--params", "{}", "--fee", "0.5"], "at most 0.1"),
        (["--strategy", "rsi", "--params", '{"timeframe": "1h"}'], "does not match the data's 1m"),
        (["--strategy", "rsi", "--params", "{}", "--timeframe", "60m"], "must be written '1h'"),
        (["--strategy", "rsi", "--params", "{}", "--timeframe", "5m"], "5m candles would overlap"),
        (["--strategy", "momentum", "--params", "{}"], "'momentum' is not one of"),
        (["--strategy", "rsi", "--params", "{}", "--symbol", "BTCUSDT"], "is not BASE/QUOTE"),
        (["--strategy", "rsi", "--params", "{}", "--holdout-fraction", "0.95"], "at most 0.9"),
        (["--strategy", "rsi", "--params", "{}", "--holdout-fraction", "0"], "above 0"),
        (
            ["--strategy", "rsi", "--params", "{}", "--holdout-fraction", "0.3", "--report", "r"],
            "run without it for a trades CSV or a report",
        ),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(
    minutes: Path, args: list[str], message: str
) -> None:
    code, output = invoke("--data", str(minutes), *args)
    assert code == 2
    assert message in output and "Traceback" not in output


def test_a_bad_row_in_the_data_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1747699200000,100,101,99,100,1\n"
        "1747699260000,100,101,99,oops,1\n"
    )
    code, output = invoke("--data", str(path), "--strategy", "rsi", "--params", "{}")
    assert code == 2
    assert "line 3: close 'oops' is not a number" in output and "Traceback" not in output


def test_the_command_group_can_load_it_by_name() -> None:
    from autogrid.cli.group import load_command

    command = load_command("autogrid.backtest.cli:backtest_command")
    assert command is backtest_command and command.name == "backtest"


def test_holdout_runs_both_parts_like_direct_runs_on_each(minutes: Path) -> None:
    args = ["--data", str(minutes), "--strategy", "rsi", "--params", RSI]

    code, output = invoke(*args, "--holdout-fraction", "0.25", "--json")

    assert code == 0, output
    shown = json.loads(output)
    # 20,000 minutes from 2025-05-20T00:00Z: the last quarter starts 15,000 minutes in.
    assert shown["split"] == "2025-05-30T10:00:00Z"
    market = MarketRules("BTC/USDT", "BTC", "USDT", D("1E-8"), D("0.01"), D("1E-8"))
    settings = BacktestSettings(market, D(10_000))
    candles = load_candles(minutes)
    for part, window in (
        ("in_sample", candles.window(15_000, 15_000)),
        ("out_of_sample", candles.window(20_000, 5_000)),
    ):
        strategy = build_strategy("indicator", {**json.loads(RSI), "strategy": "rsi"}, market)
        direct = build_result(
            run_backtest(strategy, window, settings), window, settings, strategy="rsi"
        )
        figures = ("start", "end", "final_equity", "trades", "win_rate", "return_pct")
        assert [shown[part][name] for name in figures] == [
            direct.summary()[name] for name in figures
        ]
    assert shown["in_sample"]["end"] == shown["split"]  # the last in-sample close
    code, table = invoke(*args, "--holdout-fraction", "0.25")
    assert code == 0 and "in sample before 2025-05-30T10:00:00Z" in table
    assert "in sample  out of sample" in table
