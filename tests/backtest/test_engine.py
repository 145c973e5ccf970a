"""The engine's fills and accounting by hand, and skip-ahead against every-candle on real data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestRun, BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.candles import CandleArrays, arrays_from_rows
from autogrid.trading.strategies.base import (
    CandleWindow,
    Decision,
    PlaceOrder,
    Snapshot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.dca_start import StartCondition
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig
from autogrid.trading.strategies.indicator import IndicatorStrategy, Sizing
from autogrid.trading.strategies.signals import (
    AverageKind,
    BollingerRule,
    MacdRule,
    MaCrossRule,
    RsiRule,
    SignalRule,
)
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))
MINUTE = 60_000


@dataclass(frozen=True)
class Scripted:
    """Places the given orders at the given candle indices (by counting its calls)."""

    script: Mapping[int, Sequence[PlaceOrder]]
    name: str = "scripted"
    quiet: bool = False  # promise nothing but fills (lets the engine skip ahead)

    def candles_needed(self) -> int:
        return 0

    def indicators(self, candles: CandleWindow) -> dict[str, np.ndarray]:
        return {}

    def initial_state(self, snapshot: Snapshot) -> int:
        return 0

    def decide(
        self, snapshot: Snapshot, state: int, fills: Sequence[StrategyFill]
    ) -> Decision[int]:
        wake = Wake() if self.quiet else Wake(every_candle=True)
        return Decision(tuple(self.script.get(state, ())), state + 1, wake)

    def dump_state(self, state: int) -> dict[str, Any]:
        return {"calls": state}

    def load_state(self, data: Mapping[str, Any]) -> int:
        return int(data["calls"])


def candles(*bars: tuple[float, float, float, float]) -> CandleArrays:
    return arrays_from_rows(
        [[i * MINUTE, o, h, low, c, 1.0] for i, (o, h, low, c) in enumerate(bars)]
    )


def test_limit_and_market_fills_and_fees_by_hand() -> None:
    strategy = Scripted(
        {
            0: [PlaceOrder("buy", Side.BUY, OrderType.LIMIT, D("0.5"), D(95))],
            2: [PlaceOrder("sell", Side.SELL, OrderType.MARKET, D("0.5"))],
        }
    )
    bars = candles((100, 101, 99, 100), (100, 100, 94, 96), (96, 97, 95, 97), (98, 99, 97, 98))
    settings = BacktestSettings(
        MARKET,
        D(1000),
        maker_fee=D("0.001"),
        taker_fee=D("0.002"),
        slippage=D("0.01"),
        skip_ahead=False,
    )
    run = run_backtest(strategy, bars, settings)
    assert [(f.tag, f.index, f.price, f.fee) for f in run.fills] == [
        ("buy", 1, D(95), D("0.0475")),  # 0.5 x 95 = 47.5; maker 0.1%
        ("sell", 3, D("97.02"), D("0.09702")),  # next open 98 less 1% slippage; taker 0.2%
    ]
    # 1000 - 47.5 - 0.0475 + 48.51 - 0.09702
    assert run.final_quote == D("1000.86548")
    assert run.final_base == 0
    assert run.fees == D("0.14452")


def test_an_order_the_account_cannot_pay_for_is_refused() -> None:
    strategy = Scripted({0: [PlaceOrder("big", Side.BUY, OrderType.LIMIT, D(100), D(95))]})
    run = run_backtest(
        strategy,
        candles((100, 100, 90, 95), (95, 96, 80, 90)),
        BacktestSettings(MARKET, D(1000), skip_ahead=False),
    )
    assert run.fills == [] and run.final_quote == D(1000)


@pytest.mark.parametrize("trailing", [False, True])
def test_skip_ahead_gives_the_same_trades_as_calling_every_candle(trailing: bool) -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=30_000)
    data = arrays_from_rows(rows.tolist())
    config = GridConfig(
        D(100_000),
        D(110_000),
        40,
        investment=D(10_000),
        trailing_up=trailing,
        trailing_down=trailing,
    )
    runs = [
        run_backtest(
            GridStrategy(config, MARKET), data, BacktestSettings(MARKET, D(10_000), skip_ahead=skip)
        )
        for skip in (True, False)
    ]
    fast, reference = runs
    assert reference.decide_calls == len(data)
    assert fast.decide_calls < reference.decide_calls / 10
    assert len(fast.fills) > 50  # real data crosses the grid many times
    assert fast.fills == reference.fills
    assert fast.strategy_state == reference.strategy_state
    assert (fast.final_quote, fast.final_base) == (reference.final_quote, reference.final_base)


def test_grid_accounting_matches_the_account() -> None:
    """Realized P&L from the strategy's lots equals the account's quote change when flat."""
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=20_000)
    data = arrays_from_rows(rows.tolist())
    config = GridConfig(D(100_000), D(110_000), 40, investment=D(10_000))
    run = run_backtest(GridStrategy(config, MARKET), data, BacktestSettings(MARKET, D(10_000)))
    state = run.strategy_state
    held_cost = sum((D(cost) for _, cost, _ in state["lots"].values()), D(0))
    # quote now = start + realized - cost of what is still held (bought, not yet sold)
    assert run.final_quote == D(10_000) + D(state["realized_pnl"]) - held_cost
    assert D(state["fees_quote"]) == run.fees


def test_a_candle_opening_below_its_low_still_fills_when_skipping() -> None:
    """The path starts at the open: skip-ahead scans where the path reaches, not just high/low."""
    order = PlaceOrder("buy", Side.BUY, OrderType.LIMIT, D(1), D(95))
    strategy = Scripted({0: [order]}, quiet=True)
    # A malformed candle (open 94 below its low 99): the buy fills at the open all the same.
    bars = candles((100, 100, 100, 100), (100, 101, 99, 100), (94, 101, 99, 100))
    runs = [
        run_backtest(strategy, bars, BacktestSettings(MARKET, D(1000), skip_ahead=skip))
        for skip in (True, False)
    ]
    assert [(f.index, f.price) for f in runs[0].fills] == [(2, D(94))]
    assert runs[0].fills == runs[1].fills


def _same_runs(strategy: Any, data: CandleArrays, settings: BacktestSettings) -> BacktestRun:
    fast = run_backtest(strategy, data, settings)
    every = run_backtest(strategy, data, replace(settings, skip_ahead=False))
    assert fast.fills == every.fills
    assert fast.balance_steps == every.balance_steps
    assert fast.strategy_state == every.strategy_state
    assert (fast.final_quote, fast.final_base, fast.stop_reason) == (
        every.final_quote,
        every.final_base,
        every.stop_reason,
    )
    assert fast.decide_calls < every.decide_calls
    return fast


def test_skip_ahead_equals_every_candle_for_trailing_dca_and_a_stopping_grid() -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=30_000)
    data = arrays_from_rows(rows.tolist())
    dca = DcaConfig(
        D(100),
        D(100),
        D("0.5"),
        D("0.4"),
        max_safety_orders=6,
        active_safety_orders_count=3,
        martingale_volume_coefficient=D("1.3"),
        trailing_take_profit=True,
        trailing_deviation=D("0.2"),
        stop_loss_percentage=D(4),
    )
    run = _same_runs(DcaStrategy(dca, MARKET), data, BacktestSettings(MARKET, D(10_000)))
    assert len(run.fills) > 100
    grid = GridConfig(
        D(101_000),
        D(110_000),
        30,
        investment=D(10_000),
        direction=Direction.NEUTRAL,
        stop_loss_price=D(100_500),
        sell_base_on_stop=True,
    )
    settings = BacktestSettings(MARKET, D(10_000), slippage=D("0.0005"))
    stopped = _same_runs(GridStrategy(grid, MARKET), data, settings)
    assert stopped.stop_reason is not None and stopped.fills[-1].tag == "STOPSELL"


@pytest.mark.parametrize(
    "rule",
    [
        RsiRule(14, 30, 70),
        MacdRule(12, 26, 9),
        BollingerRule(20, 2.0),
        MaCrossRule(10, 30, AverageKind.SMA),
    ],
    ids=["rsi", "macd", "bollinger", "ma-cross"],
)
def test_skip_ahead_equals_every_candle_for_dca_with_an_indicator_start(rule: SignalRule) -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=30_000)
    data = arrays_from_rows(rows.tolist())
    start = StartCondition(rule, parse_timeframe("1m"))
    dca = DcaConfig(
        D(100),
        D(100),
        D("0.5"),
        D("0.4"),
        max_safety_orders=4,
        active_safety_orders_count=2,
        stop_loss_percentage=D(3),
        cooldown_seconds=1800,
        start_condition=start,
    )
    run = _same_runs(DcaStrategy(dca, MARKET), data, BacktestSettings(MARKET, D(10_000)))
    assert run.decide_calls < len(data) / 20  # only signal candles and events, idle or not
    # Each deal's base order fills at the open after an entry signal, never elsewhere.
    entries = start.entries(start.series(data))
    opened = [fill.index for fill in run.fills if fill.tag.endswith(".BO")]
    assert len(opened) >= 10
    assert all(entries[index - 1] for index in opened)
    assert len(opened) < int(entries.sum())  # deals and cooldowns pass over some signals


@dataclass(frozen=True)
class UnionSignalsOnly:
    """The RSI bot without its per-phase signal masks: the engine wakes on every signal."""

    inner: IndicatorStrategy
    name: str = "rsi-union"

    def candles_needed(self) -> int:
        return self.inner.candles_needed()

    def indicators(self, candles: CandleWindow) -> dict[str, np.ndarray]:
        return self.inner.indicators(candles)

    def signal_mask(self, series: Mapping[str, np.ndarray]) -> np.ndarray:
        return self.inner.signal_mask(series)

    def initial_state(self, snapshot: Snapshot) -> Any:
        return self.inner.initial_state(snapshot)

    def decide(self, snapshot: Snapshot, state: Any, fills: Sequence[StrategyFill]) -> Any:
        return self.inner.decide(snapshot, state, fills)

    def dump_state(self, state: Any) -> dict[str, Any]:
        return self.inner.dump_state(state)

    def load_state(self, data: Mapping[str, Any]) -> Any:
        return self.inner.load_state(data)


def test_signals_narrowed_by_phase_skip_more_and_trade_the_same() -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=40_000)
    data = arrays_from_rows(rows.tolist())
    rsi = IndicatorStrategy(
        RsiRule(14, 30, 70), Sizing(order_pct=D(100), stop_loss_pct=D(1)), MARKET
    )
    masks = rsi.signal_masks_by_phase(rsi.indicators(data.window(len(data), len(data))))
    union = rsi.signal_mask(rsi.indicators(data.window(len(data), len(data))))
    assert set(masks) == {"flat", "long"}
    assert not (masks["flat"] & ~union).any() and not (masks["long"] & ~union).any()
    settings = BacktestSettings(MARKET, D(10_000))
    narrowed = _same_runs(rsi, data, settings)
    wide = run_backtest(UnionSignalsOnly(rsi), data, settings)
    assert len(narrowed.fills) > 100 and narrowed.fills == wide.fills
    assert narrowed.strategy_state == wide.strategy_state
    assert narrowed.decide_calls < wide.decide_calls * 0.75
