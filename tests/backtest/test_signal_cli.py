"""``autogrid backtest-signals`` on real hourly candles, through click's runner."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from autogrid.backtest.signal_cli import signal_backtest_command
from tests.shared_data import shared_file


@pytest.fixture(scope="module")
def hours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with gzip.open(shared_file("binance_BTC_USDT-1h.csv.gz"), "rt") as source:
        lines = [next(source) for _ in range(301)]
    path = tmp_path_factory.mktemp("data") / "slice-1h.csv"
    path.write_text("".join(lines))
    return path


def opened(path: Path, row: int) -> str:
    ts = int(path.read_text().splitlines()[row + 1].split(",")[0])
    return datetime.fromtimestamp(ts / 1000, UTC).isoformat().replace("+00:00", "Z")


def test_a_signal_file_replays_and_reports_each_signal(hours: Path, tmp_path: Path) -> None:
    first = datetime.fromisoformat(opened(hours, 0))
    signals = [
        {"at": opened(hours, 10), "body": "SIGNAL=BUY\nVOLUME=0.1"},
        {
            "at": opened(hours, 50),
            "body": {"action": "sell", "ticker": "BTCUSDT", "market_position": "flat"},
        },
        {"at": (first - timedelta(days=1)).isoformat(), "body": "SIGNAL=BUY"},
    ]
    path = tmp_path / "signals.json"
    path.write_text(json.dumps(signals))
    args = ["--data", str(hours), "--signals", str(path), "--min-cost", "5", "--json"]
    result = CliRunner().invoke(signal_backtest_command, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [(f["candle"], f["side"], f["amount"]) for f in summary["fills"]] == [
        (10, "buy", "0.1"),
        (50, "sell", "0.1"),
    ]
    assert [(s["signal"], s["action"], s["fill_candle"]) for s in summary["signals"]] == [
        (2, "buy", None),  # before the data: answered first, never acted on
        (0, "buy", 10),
        (1, "close_all", 50),
    ]
    assert summary["before_start"] == [2]
    assert D(summary["final_equity"]) == D(summary["final_quote"])


def test_an_unparsable_signal_names_its_index_and_position(hours: Path, tmp_path: Path) -> None:
    path = tmp_path / "signals.jsonl"
    path.write_text(json.dumps({"at": opened(hours, 3), "body": "SIGNAL=BUY\nVOLUME=x"}) + "\n")
    result = CliRunner().invoke(
        signal_backtest_command, ["--data", str(hours), "--signals", str(path)]
    )
    assert result.exit_code == 2
    assert "signal 0" in result.output and "at character 18" in result.output
