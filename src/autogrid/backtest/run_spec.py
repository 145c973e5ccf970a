"""What a stored backtest runs (its params typed for the engine) and what a run of it stores.

A single backtest stores everything when it finishes: the results (figures, curves, closed
trades) and its HTML report. A sweep's run stores only its figures (``summary_of``): that is all
its sweep's ranking, view and report read, and building, serialising, rendering and storing the
rest cost a sweep of short runs ten times their engine time. Its full results and report are
made when someone opens that run (``on_demand``), by running it again: a run is deterministic
(the same params on the same candles give the same bytes), so what is made then is what would
have been stored (``full_results``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.backtest import signal_walk
from autogrid.backtest.engine import BacktestRun, BacktestSettings
from autogrid.backtest.factory import build_strategy
from autogrid.backtest.report import render_report, report_setup
from autogrid.backtest.results import BacktestResult, build_result
from autogrid.backtest.service import market_from_json
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.backtest.signal_replay import signal_bot_from_config, signal_outcomes
from autogrid.market_data.timeframes import parse_timeframe
from autogrid.trading.candles import CandleArrays
from autogrid.trading.strategies.base import Strategy

MAX_STORED_TRADES = 5_000
# Keys of the full results a summary leaves out: their presence tells the two apart.
FULL_ONLY = ("equity_curve", "drawdown_curve", "price_curve", "closed_trades")


@dataclass(frozen=True, slots=True)
class RunSpec:
    """A backtest's stored params, typed for the engine."""

    bot_type: str
    config: dict[str, Any]
    exchange: str
    symbol: str
    timeframe: str
    start: datetime
    end: datetime
    settings: BacktestSettings

    @classmethod
    def of(cls, params: dict[str, Any]) -> RunSpec:
        fees = params["fees"]
        return cls(
            bot_type=params["type"],
            config=params["config"],
            exchange=params["exchange"],
            symbol=params["symbol"],
            timeframe=params["timeframe"],
            start=datetime.fromisoformat(params["start"]),
            end=datetime.fromisoformat(params["end"]),
            settings=BacktestSettings(
                market=market_from_json(params["market"]),
                initial_quote=Decimal(params["initial_balance"]),
                maker_fee=Decimal(fees["maker"]),
                taker_fee=Decimal(fees["taker"]),
                slippage=Decimal(params["slippage"]),
                timeframe_ms=parse_timeframe(params["timeframe"]).ms,
            ),
        )

    @property
    def label(self) -> str:
        """The strategy's one-word name: grid, dca, or the indicator (rsi, macd...)."""
        return str(self.config.get("strategy", self.bot_type))

    @property
    def title(self) -> str:
        return f"Backtest: {self.label} on {self.exchange} {self.symbol} {self.timeframe}"

    def strategy(self, candles: CandleArrays | None = None) -> Strategy[Any]:
        """The strategy; a signal list is scheduled on ``candles`` when given (the run's)."""
        if self.bot_type == "signal" and candles is not None:
            market, timeframe_ms = self.settings.market, self.settings.timeframe_ms
            return signal_bot_from_config(self.config, market, candles, timeframe_ms)
        return build_strategy(self.bot_type, self.config, self.settings.market)

    def run(self, candles: CandleArrays, shared: SeriesMemo | None = None) -> BacktestRun:
        """The engine's very run; an indicator bot without guards is walked signal to signal."""
        return signal_walk.run_fast(self.strategy(candles), candles, self.settings, shared)

    def result(
        self, run: BacktestRun, candles: CandleArrays, seconds: float | None
    ) -> BacktestResult:
        return build_result(run, candles, self.settings, strategy=self.label, run_seconds=seconds)

    def figures(self, run: BacktestRun, candles: CandleArrays, seconds: float) -> dict[str, Any]:
        """What a sweep's run stores: its figures and closed-trade count (``summary_of``)."""
        result = build_result(
            run, candles, self.settings, strategy=self.label, run_seconds=seconds, figures_only=True
        )
        return summary_of(result)


def is_summary(results: dict[str, Any]) -> bool:
    """True for a sweep run's stored figures, whose full results are made on demand."""
    return not any(key in results for key in FULL_ONLY)


def summary_of(result: BacktestResult) -> dict[str, Any]:
    """What a sweep's run stores: its figures and closed-trade count (``results.summary``)."""
    return result.summary_dict()


def full_results(
    spec: RunSpec, result: BacktestResult, run: BacktestRun
) -> tuple[dict[str, Any], str]:
    """The results JSON (closed trades capped at ``MAX_STORED_TRADES``) and the HTML report;
    a signal list's results also say what became of each signal."""
    data = result.to_dict(max_closed_trades=MAX_STORED_TRADES)
    if spec.bot_type == "signal":
        data["signals"] = signal_outcomes(run.strategy_state)
    setup = report_setup(
        exchange=spec.exchange, config=spec.config, settings=spec.settings, strategy=spec.strategy()
    )
    return data, render_report(result, spec.title, setup)
