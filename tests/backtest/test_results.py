"""Results of small scripted backtests, every figure worked out by hand."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestSettings, TradeRecord, run_backtest
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.backtest.trades import closed_trades
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.candles import CandleArrays, arrays_from_rows
from autogrid.trading.strategies.base import (
    CandleWindow,
    Decision,
    PlaceOrder,
    Snapshot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig
from tests.shared_data import load_csv_rows

DAY = 86_400_000
MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.001"), D("0.01"), D("0.001"))


@dataclass(frozen=True)
class Scripted:
    """Places the given orders after the given candles (it counts its calls)."""

    script: Mapping[int, Sequence[PlaceOrder]]
    name: str = "scripted"

    def candles_needed(self) -> int:
        return 0

    def indicators(self, candles: CandleWindow) -> dict[str, np.ndarray]:
        return {}

    def initial_state(self, snapshot: Snapshot) -> int:
        return 0

    def decide(
        self, snapshot: Snapshot, state: int, fills: Sequence[StrategyFill]
    ) -> Decision[int]:
        return Decision(tuple(self.script.get(state, ())), state + 1, Wake(every_candle=True))

    def dump_state(self, state: int) -> dict[str, Any]:
        return {"calls": state}

    def load_state(self, data: Mapping[str, Any]) -> int:
        return int(data["calls"])


def daily(*bars: tuple[float, float, float, float]) -> CandleArrays:
    return arrays_from_rows(
        [[(20_000 + i) * DAY, o, h, low, c, 1.0] for i, (o, h, low, c) in enumerate(bars)]
    )


BAR_ROWS = (
    (100, 100, 100, 100),  # decide 0: market buy 2
    (100, 104, 96, 102),  # buy 2 @100 (taker 0.2); decide 1: limit sell 1 @110
    (105, 112, 104, 108),  # the sell fills @110 (maker 0.11); decide 2: nothing
    (107, 107, 90, 92),  # decide 3: market sell 1
    (90, 91, 88, 89),  # sell 1 @90 at the open (taker 0.09)
)
BARS = daily(*BAR_ROWS)
SCRIPT = Scripted(
    {
        0: [PlaceOrder("buy", Side.BUY, OrderType.MARKET, D(2))],
        1: [PlaceOrder("tp", Side.SELL, OrderType.LIMIT, D(1), D(110))],
        3: [PlaceOrder("out", Side.SELL, OrderType.MARKET, D(1))],
    }
)
SETTINGS = BacktestSettings(MARKET, D(1000), timeframe_ms=DAY)


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    run = run_backtest(SCRIPT, BARS, SETTINGS)
    return build_result(run, BARS, SETTINGS, strategy="scripted", run_seconds=0.5)


def test_money_figures_are_exact(result: BacktestResult) -> None:
    # quote: 1000 - 200 - 0.2 (buy) + 110 - 0.11 (take profit) + 90 - 0.09 (exit) = 999.60
    assert result.final_quote == D("999.60") and result.final_base == 0
    assert result.initial_equity == D(1000)
    assert result.final_equity == D("999.60")
    assert result.fees == D("0.40")
    assert result.return_pct == -0.04
    assert result.buy_and_hold_pct == pytest.approx(-11.0, rel=1e-12)  # 100 -> 89


def test_equity_and_drawdown_at_each_close(result: BacktestResult) -> None:
    # closes 100, 102, 108, 92, 89 with (quote, base) = (1000, 0), (799.8, 2), (909.69, 1) x2,
    # then (999.6, 0)
    equity = [1000, 799.8 + 2 * 102, 909.69 + 108, 909.69 + 92, 999.6]
    assert result.equity_curve.values.tolist() == pytest.approx(equity, rel=1e-12)
    peak = 909.69 + 108
    assert result.max_drawdown_pct == pytest.approx((peak - 999.6) / peak * 100, rel=1e-12)
    assert result.drawdown_curve.values.tolist() == pytest.approx(
        [0, 0, 0, (peak - equity[3]) / peak * 100, (peak - 999.6) / peak * 100], rel=1e-12
    )
    assert result.exposure_pct == 60.0  # holding base at 3 of 5 closes


def test_closed_trades_fifo_by_hand(result: BacktestResult) -> None:
    first, second = result.closed_trades
    # sell 1 of the 2 bought @100: its share of the buy fee is 0.1
    assert (first.entry_price, first.exit_price, first.amount) == (D(100), D(110), D(1))
    assert first.pnl == D(110) - D("0.11") - (D(100) + D("0.1")) == D("9.79")
    assert first.fees == D("0.21")
    # Stamped with the open of the candle each filled in (day 20000 is 2024-10-04): the buy at
    # candle 1's open, the limit sell somewhere inside candle 2.
    assert (first.entry_time, first.exit_time) == (
        datetime(2024, 10, 5, tzinfo=UTC),
        datetime(2024, 10, 6, tzinfo=UTC),
    )
    assert second.pnl == D(90) - D("0.09") - D("100.1") == D("-10.19")
    assert (result.trades, result.fills, result.round_trips) == (2, 3, 2)
    assert result.win_rate == 50.0
    assert result.profit_factor == pytest.approx(9.79 / 10.19, rel=1e-12)


def test_a_run_of_four_days_gives_no_figures_scaled_to_a_year(result: BacktestResult) -> None:
    assert (result.span_days, result.annualised) == (4.0, False)
    assert (result.cagr_pct, result.sharpe, result.sortino, result.calmar) == (None,) * 4
    assert result.annualised_note is not None
    assert "spans 4 days" in result.annualised_note and "at least 90" in result.annualised_note


def test_daily_ratios_by_hand() -> None:
    # The same trades, then 90 quiet days at the last close: long enough to annualise.
    bars = daily(*BAR_ROWS, *[(89, 89, 89, 89)] * 90)
    result = build_result(run_backtest(SCRIPT, bars, SETTINGS), bars, SETTINGS, strategy="s")
    assert (result.span_days, result.annualised, result.annualised_note) == (94.0, True, None)
    equity = [1000, 1003.8, 1017.69, 1001.69, 999.6] + [999.6] * 90
    # one candle per UTC day; the first return runs from the first close to itself (0)
    returns = [0.0] + [b / a - 1 for a, b in pairwise(equity)]
    sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    assert result.sharpe == pytest.approx(sharpe, rel=1e-9)
    assert result.sortino == pytest.approx(statistics.mean(returns) / downside * math.sqrt(365))
    cagr = (0.9996 ** (365 / 94) - 1) * 100  # 94 days from the first close to the last
    assert result.cagr_pct == pytest.approx(cagr, rel=1e-12)
    assert result.calmar == pytest.approx(cagr / result.max_drawdown_pct, rel=1e-12)


def test_output_is_json_with_decimals_as_strings(result: BacktestResult) -> None:
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["final_equity"] == "999.6" and data["fees"] == "0.4"  # plain decimal text
    assert data["trades"] == 2 and data["run_seconds"] == 0.5
    assert data["closed_trades"][0] == {
        "entry_time": "2024-10-05T00:00:00Z",
        "exit_time": "2024-10-06T00:00:00Z",
        "entry_price": "100",
        "exit_price": "110",
        "amount": "1",
        "pnl": "9.79",
        "fees": "0.21",
        "exit_tag": "tp",
    }
    assert data["start"] == "2024-10-05T00:00:00Z"
    assert data["equity_curve"][0] == ["2024-10-05T00:00:00Z", 1000.0]


def record(side: Side, price: str, amount: str, fee: str, day: int) -> TradeRecord:
    moment = datetime(2025, 1, day, tzinfo=UTC)
    return TradeRecord(day, moment, f"{side.value}{day}", side, D(price), D(amount), D(fee), True)


def test_fifo_spans_buys_and_splits_their_fees() -> None:
    fills = [
        record(Side.BUY, "100", "1", "0.1", 1),
        record(Side.BUY, "120", "1", "0.12", 2),
        record(Side.SELL, "130", "1.5", "0.195", 3),
        record(Side.SELL, "90", "0.5", "0.045", 4),
    ]
    first, second = closed_trades(fills)
    # 1 @100 and 0.5 @120 -> (100 + 60) / 1.5; fees 0.1 + half of 0.12
    assert first.entry_price == D(160) / D("1.5")
    assert first.entry_time == datetime(2025, 1, 1, tzinfo=UTC)
    assert first.pnl == D(195) - D("0.195") - D(160) - D("0.16") == D("34.645")
    assert second.entry_price == D(120)
    assert second.entry_time == datetime(2025, 1, 2, tzinfo=UTC)
    assert second.pnl == D(45) - D("0.045") - D(60) - D("0.06") == D("-15.105")


def test_base_held_at_start_is_an_open_lot_at_the_first_close() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    (trade,) = closed_trades(
        [record(Side.SELL, "110", "2", "0.22", 5)],
        initial_base=D(2),
        start_price=D(100),
        start_time=start,
    )
    assert (trade.entry_time, trade.entry_price, trade.pnl) == (start, D(100), D("19.78"))


def test_grid_profit_versus_unrealized_on_real_candles() -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=20_000)
    data = arrays_from_rows(rows.tolist())
    market = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"))
    config = GridConfig(
        D(100_000), D(110_000), 40, investment=D(10_000), direction=Direction.NEUTRAL
    )
    settings = BacktestSettings(market, D(10_000))
    run = run_backtest(GridStrategy(config, market), data, settings)
    result = build_result(run, data, settings, strategy="grid")
    grid = result.grid
    assert grid is not None and result.round_trips > 20
    assert grid.grid_profit > 0 and grid.position == result.final_base
    # Everything the grid earned or lost is realized P&L plus the held lots' unrealized P&L.
    assert result.final_equity - result.initial_equity == grid.realized_pnl + grid.unrealized_pnl
    # The vectorised equity curve equals a plain loop over the candles at every kept point.
    steps = dict((index, (quote, base)) for index, quote, base in run.balance_steps)
    quote, base, equity = D(10_000), D(0), []
    for index, close in enumerate(rows[:, 4].tolist()):
        quote, base = steps.get(index, (quote, base))
        equity.append(float(quote) + float(base) * close)
    kept = ((result.equity_curve.time_ms - data.ts_ms[0]) // 60_000 - 1).astype(int)
    assert result.equity_curve.values.tolist() == pytest.approx(
        np.asarray(equity)[kept].tolist(), rel=1e-12
    )
    assert result.max_drawdown_pct == pytest.approx(
        float(np.max(1 - np.asarray(equity) / np.maximum.accumulate(equity)) * 100), rel=1e-9
    )
