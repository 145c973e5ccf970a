"""The speed-ups work on drafts and copies: a decision must never change the state it was given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

import numpy as np
import pytest

from autogrid.backtest.engine import BacktestSettings, run_backtest
from autogrid.exchanges.types import MarketRules
from autogrid.trading.candles import arrays_from_rows
from autogrid.trading.strategies.base import CandleWindow, Decision, Snapshot, StrategyFill
from autogrid.trading.strategies.dca import DcaStrategy
from autogrid.trading.strategies.dca_config import DcaConfig
from autogrid.trading.strategies.grid import GridStrategy
from autogrid.trading.strategies.grid_config import Direction, GridConfig
from autogrid.trading.strategies.indicator import IndicatorStrategy, Sizing
from autogrid.trading.strategies.signals import RsiRule
from tests.shared_data import load_csv_rows

MARKET = MarketRules("BTC/USDT", "BTC", "USDT", D("0.00001"), D("0.01"), D("0.00001"), None, D(5))


@dataclass
class Watched:
    """Delegates to a strategy and checks each input state is unchanged by ``decide``."""

    inner: Any
    name: str = "watched"
    decisions: int = 0

    def candles_needed(self) -> int:
        return int(self.inner.candles_needed())

    def indicators(self, candles: CandleWindow) -> dict[str, np.ndarray]:
        return dict(self.inner.indicators(candles))

    def initial_state(self, snapshot: Snapshot) -> Any:
        return self.inner.initial_state(snapshot)

    def decide(
        self, snapshot: Snapshot, state: Any, fills: Sequence[StrategyFill]
    ) -> Decision[Any]:
        before = self.inner.dump_state(state)
        decision = self.inner.decide(snapshot, state, fills)
        assert self.inner.dump_state(state) == before, "decide changed its input state"
        self.decisions += 1
        return decision  # type: ignore[no-any-return]

    def dump_state(self, state: Any) -> dict[str, Any]:
        return dict(self.inner.dump_state(state))

    def load_state(self, data: Mapping[str, Any]) -> Any:
        return self.inner.load_state(data)

    def __getattr__(self, name: str) -> Any:
        # The engine's optional hooks (signal masks, phases) pass through when the inner has them.
        return getattr(self.inner, name)


@pytest.mark.parametrize(
    "strategy",
    [
        GridStrategy(
            GridConfig(
                D(100_000),
                D(110_000),
                30,
                investment=D(10_000),
                direction=Direction.NEUTRAL,
                trailing_up=True,
                trailing_down=True,
            ),
            MARKET,
        ),
        DcaStrategy(
            DcaConfig(
                D(100),
                D(100),
                D("0.5"),
                D("0.5"),
                max_safety_orders=5,
                active_safety_orders_count=2,
                trailing_take_profit=True,
                trailing_deviation=D("0.2"),
            ),
            MARKET,
        ),
        IndicatorStrategy(RsiRule(14, 30, 70), Sizing(order_pct=D(100)), MARKET),
    ],
    ids=["grid", "dca", "rsi"],
)
def test_decide_never_mutates_its_input(strategy: Any) -> None:
    rows = load_csv_rows("binance_BTC_USDT-1m.csv.gz", limit=8_000)
    watched = Watched(strategy)
    run = run_backtest(
        watched, arrays_from_rows(rows.tolist()), BacktestSettings(MARKET, D(10_000))
    )
    assert len(run.fills) > 10 and watched.decisions == run.decide_calls
