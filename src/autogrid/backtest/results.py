"""What a backtest tells the trader: metrics, curves and trades, from a run and its candles.

Money (equity, fees, P&L, prices, amounts) stays ``Decimal`` and is written as strings in
``to_dict``; percentages and ratios are floats; the chart curves are floats (they are computed
in numpy and exist to be drawn). See ``metrics`` for the definitions of each figure.

Times: the curves are at candle closes (equity is marked to market there); trades and fills are
stamped with the open time of the candle they filled in (``stamped_at_open``), the time a chart
shows that candle at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autogrid.backtest import metrics
from autogrid.backtest.engine import BacktestRun, BacktestSettings, TradeRecord
from autogrid.backtest.step_figures import step_figures
from autogrid.backtest.trades import ClosedTrade, closed_pnls, closed_trades, iso_utc, plain
from autogrid.market_data.timeframes import canonical_name, ms_to_datetime
from autogrid.trading.candles import CandleArrays

ZERO = Decimal(0)
_NONE = np.zeros(0, dtype=np.intp)
_NO_FLOATS = np.zeros(0, dtype=np.float64)
_FIRST = np.zeros(1, dtype=np.intp)


@dataclass(frozen=True, slots=True)
class Curve:
    """A downsampled series for charts: close times (ms) and values."""

    time_ms: NDArray[np.int64]
    values: NDArray[np.float64]

    def points(self, times: list[str] | None = None) -> list[list[Any]]:
        """``[time, value]`` pairs; ``times``: this curve's ``iso_times``, if already made."""
        stamps = iso_times(self.time_ms) if times is None else times
        return [[stamp, value] for stamp, value in zip(stamps, self.values.tolist(), strict=True)]


def iso_times(time_ms: NDArray[np.int64]) -> list[str]:
    """``iso_utc(ms_to_datetime(ms))`` of each, formatted by numpy in one call when they are all
    whole seconds (candle times are): per point, formatting cost a sweep run more than its
    engine."""
    ms = np.asarray(time_ms, dtype=np.int64)
    if len(ms) and not np.any(ms % 1000):
        text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="s")
        return [f"{stamp}Z" for stamp in text.tolist()]
    return [iso_utc(ms_to_datetime(value)) for value in ms.tolist()]


@dataclass(frozen=True, slots=True)
class GridBreakdown:
    """A grid's profit split: completed round trips versus inventory still held."""

    grid_profit: Decimal  # completed buy -> sell round trips, after both fees
    realized_pnl: Decimal  # grid profit plus sales of inventory bought at start
    unrealized_pnl: Decimal  # held lots at the last close minus what they cost
    position: Decimal
    position_cost: Decimal

    def to_dict(self) -> dict[str, str]:
        return {name: plain(getattr(self, name)) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class BacktestResult:
    strategy: str
    symbol: str
    timeframe: str
    start: datetime  # close of the first candle: the strategy's first decision
    end: datetime  # close of the last candle
    candles: int
    initial_equity: Decimal
    final_equity: Decimal
    final_quote: Decimal
    final_base: Decimal
    fees: Decimal
    return_pct: float
    span_days: float  # first close to last close
    annualised: bool  # False: the span is too short, the four figures below are None
    annualised_note: str | None  # why they are None
    cagr_pct: float | None
    max_drawdown_pct: float
    sharpe: float | None
    sortino: float | None
    calmar: float | None
    trades: int  # closed trades (one per sell)
    win_rate: float | None  # percent of closed trades with pnl > 0
    profit_factor: float | None  # gross profit / gross loss; None without losing trades
    fills: int
    round_trips: int
    exposure_pct: float
    buy_and_hold_pct: float
    grid: GridBreakdown | None
    stop_reason: str | None
    decide_calls: int
    run_seconds: float | None
    equity_curve: Curve
    drawdown_curve: Curve
    price_curve: Curve
    closed_trades: tuple[ClosedTrade, ...]
    fill_records: tuple[TradeRecord, ...]  # stamped with their candle's open (stamped_at_open)

    def summary(self) -> dict[str, Any]:
        """The figures, JSON-ready (Decimal as strings)."""
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "candles": self.candles,
            "initial_equity": plain(self.initial_equity),
            "final_equity": plain(self.final_equity),
            "final_quote": plain(self.final_quote),
            "final_base": plain(self.final_base),
            "fees": plain(self.fees),
            "return_pct": self.return_pct,
            "span_days": self.span_days,
            "annualised": self.annualised,
            "annualised_note": self.annualised_note,
            "cagr_pct": self.cagr_pct,
            "max_drawdown_pct": self.max_drawdown_pct,
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "calmar": self.calmar,
            "trades": self.trades,
            "win_rate": self.win_rate,
            "profit_factor": self.profit_factor,
            "fills": self.fills,
            "round_trips": self.round_trips,
            "exposure_pct": self.exposure_pct,
            "buy_and_hold_pct": self.buy_and_hold_pct,
            "grid": None if self.grid is None else self.grid.to_dict(),
            "stop_reason": self.stop_reason,
            "decide_calls": self.decide_calls,
            "run_seconds": self.run_seconds,
        }

    def summary_dict(self) -> dict[str, Any]:
        """The figures JSON-safe (no NaN or infinity), with the closed trades' count: what a
        sweep's run stores (its curves and trades are made when someone opens it)."""
        return {
            **{
                name: None if isinstance(value, float) and not math.isfinite(value) else value
                for name, value in self.summary().items()
            },
            "closed_trades_total": self.trades,  # figures_only keeps no trades, only their count
        }

    def to_dict(self, *, max_closed_trades: int | None = None) -> dict[str, Any]:
        """Everything for the API, JSON-safe (no NaN or infinity): the summary, the curves and
        the closed trades (the first ``max_closed_trades`` of them, with the total count)."""
        summary = self.summary_dict()
        del summary["closed_trades_total"]  # kept last, as it always was
        kept = self.closed_trades[:max_closed_trades]
        times = iso_times(self.equity_curve.time_ms)
        same_times = np.array_equal(self.drawdown_curve.time_ms, self.equity_curve.time_ms)
        return {
            **summary,
            "equity_curve": self.equity_curve.points(times),
            "drawdown_curve": self.drawdown_curve.points(times if same_times else None),
            "price_curve": self.price_curve.points(),
            "closed_trades": [trade.to_dict() for trade in kept],
            "closed_trades_total": len(self.closed_trades),
        }


def build_result(
    run: BacktestRun,
    candles: CandleArrays,
    settings: BacktestSettings,
    *,
    strategy: str,
    run_seconds: float | None = None,
    figures_only: bool = False,
) -> BacktestResult:
    """``figures_only``: the figures alone (``summary_dict``), as a sweep's run stores them: the
    curves, closed trades and fills are left empty (only the trades' P&L is made, by the same
    pairing: ``closed_pnls``); no figure depends on them."""
    market = settings.market
    close = candles.close
    # The figures need the first and last close times alone; the curves need them all.
    close_ms = (candles.ts_ms[[0, -1]] if figures_only else candles.ts_ms) + settings.timeframe_ms
    # Exposure counts a position worth selling: neither dust amount nor dust value.
    min_base, min_value = float(max(market.min_amount, market.amount_step)), float(market.min_cost)
    steps, quote0, base0 = run.balance_steps, settings.initial_quote, settings.initial_base
    per_step = None
    equity_at: Callable[[metrics.Indices], metrics.Floats]
    if figures_only:  # the same figures on the candles held alone (``step_figures``), no curves
        per_step = step_figures(steps, quote0, base0, close, min_base, min_value)
    if per_step is not None:
        equity, drawdown, equity_at = _NO_FLOATS, _NO_FLOATS, per_step.equity_at
        max_drawdown, exposure = per_step.max_drawdown_pct, per_step.exposure_pct
    elif figures_only:  # the same figures in fewer passes over every candle, no curves
        figures = metrics.candle_figures(steps, quote0, base0, close, min_base, min_value)
        equity, drawdown, equity_at = figures.equity, _NO_FLOATS, _picker(figures.equity)
        max_drawdown, exposure = figures.max_drawdown_pct, figures.exposure_pct
    else:
        quote, base = metrics.balances_at_closes(steps, quote0, base0, len(candles))
        equity = quote + base * close
        equity_at = _picker(equity)
        drawdown = metrics.drawdown_pct(equity)
        max_drawdown = float(drawdown.max())
        exposure = metrics.exposure_pct(base, close, min_base, min_value)

    first_close, last_close = _dec(close[0]), _dec(close[-1])
    initial_equity = settings.initial_quote + settings.initial_base * first_close
    final_equity = run.final_quote + run.final_base * last_close
    growth = final_equity / initial_equity if initial_equity > 0 else Decimal(1)
    span_ms = int(close_ms[-1] - close_ms[0])
    yearly = _annualised(candles, equity_at, float(growth), span_ms, max_drawdown)

    start = ms_to_datetime(int(close_ms[0]))
    held = settings.initial_base
    if figures_only:  # the same pairing, without making the trades (``closed_pnls``)
        fills: tuple[TradeRecord, ...] = ()
        trades: list[ClosedTrade] = []
        pnls = closed_pnls(run.fills, initial_base=held, start_price=first_close, start_time=start)
    else:
        fills = stamped_at_open(run.fills, candles)
        trades = closed_trades(fills, initial_base=held, start_price=first_close, start_time=start)
        pnls = [trade.pnl for trade in trades]
    # The winners and the losers, filtered in C (``0 < pnl``, ``0 > pnl``), summed in order.
    won = list(filter(ZERO.__lt__, pnls))
    wins = sum(won)
    losses = -sum(filter(ZERO.__gt__, pnls))
    keep = _NONE if figures_only else _curve_indices(equity, drawdown)
    price_keep = _NONE if figures_only else metrics.min_max_indices(close)
    return BacktestResult(
        strategy=strategy,
        symbol=market.symbol,
        timeframe=canonical_name(settings.timeframe_ms),
        start=start,
        end=ms_to_datetime(int(close_ms[-1])),
        candles=len(candles),
        initial_equity=initial_equity,
        final_equity=final_equity,
        final_quote=run.final_quote,
        final_base=run.final_base,
        fees=run.fees,
        return_pct=float((growth - 1) * 100),
        span_days=span_ms / metrics.DAY_MS,
        annualised=yearly.note is None,
        annualised_note=yearly.note,
        cagr_pct=yearly.cagr_pct,
        max_drawdown_pct=max_drawdown,
        sharpe=yearly.sharpe,
        sortino=yearly.sortino,
        calmar=yearly.calmar,
        trades=len(pnls),
        win_rate=len(won) / len(pnls) * 100 if pnls else None,
        profit_factor=float(wins / losses) if losses > 0 else None,
        fills=len(run.fills),
        round_trips=_round_trips(run.strategy_state, len(pnls)),
        exposure_pct=exposure,
        buy_and_hold_pct=(float(close[-1]) / float(close[0]) - 1.0) * 100.0,
        grid=_grid_breakdown(run.strategy_state, last_close),
        stop_reason=run.stop_reason,
        decide_calls=run.decide_calls,
        run_seconds=run_seconds,
        equity_curve=Curve(close_ms[keep], equity[keep]),
        drawdown_curve=Curve(close_ms[keep], drawdown[keep]),
        price_curve=Curve(close_ms[price_keep], close[price_keep]),
        closed_trades=tuple(trades),
        fill_records=fills,
    )


@dataclass(frozen=True, slots=True)
class _Annualised:
    note: str | None  # why the figures are not given, or None
    cagr_pct: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None


def _annualised(
    candles: CandleArrays,
    equity_at: Callable[[metrics.Indices], metrics.Floats],
    growth: float,
    span_ms: int,
    max_drawdown: float,
) -> _Annualised:
    """The figures scaled to a year; all None for a span too short to scale honestly.
    ``equity_at``: the equity at the closes of the candles given (``metrics.daily_equity``'s
    at each day's end)."""
    if not metrics.annualisable(span_ms):
        return _Annualised(metrics.not_annualised_note(span_ms))
    cagr = metrics.cagr_pct(growth, span_ms)
    start = float(equity_at(_FIRST)[0])
    daily = metrics.daily_returns(start, equity_at(metrics.day_ends(candles.ts_ms)))
    return _Annualised(
        note=None,
        cagr_pct=cagr,
        sharpe=metrics.sharpe(daily),
        sortino=metrics.sortino(daily),
        calmar=cagr / max_drawdown if cagr is not None and max_drawdown > 0 else None,
    )


def _picker(equity: metrics.Floats) -> Callable[[metrics.Indices], metrics.Floats]:
    """``equity_at`` of a curve at every close: its values at those candles."""

    def equity_at(candles: metrics.Indices) -> metrics.Floats:
        values: metrics.Floats = equity[candles]
        return values

    return equity_at


def stamped_at_open(fills: Sequence[TradeRecord], candles: CandleArrays) -> tuple[TradeRecord, ...]:
    """The fills, each stamped with the open time of the candle it filled in.

    The engine stamps a fill with the close of its candle, when the strategy learns of it (the
    paper exchange settles its fills then too, and keeps this open as their ``executed_at``).
    A chart wants when the price was there: a fill at the open (a market order, a limit order
    the candle opened beyond) happened at that very time; a limit order reached inside the
    candle carries the same open time, naming the candle it filled in (a candle does not say
    when within it the price passed).
    """
    opens = candles.ts_ms
    # Built by position: dataclasses.replace inspects the fields on every call, which made it
    # a fifth of a sweep run's result building.
    return tuple(
        TradeRecord(
            fill.index,
            ms_to_datetime(opens.item(fill.index)),
            fill.tag,
            fill.side,
            fill.price,
            fill.amount,
            fill.fee,
            fill.is_maker,
        )
        for fill in fills
    )


def _dec(value: np.floating[Any] | float) -> Decimal:
    return Decimal(repr(float(value)))


def _curve_indices(equity: NDArray[np.float64], drawdown: NDArray[np.float64]) -> NDArray[np.intp]:
    # The deepest drawdown point is always kept, whatever bucket it falls in.
    keep = metrics.min_max_indices(equity, metrics.MAX_CURVE_POINTS - 1)
    return np.union1d(keep, [int(drawdown.argmax())])


def _round_trips(state: dict[str, Any], trades: int) -> int:
    """The strategy's own count when it keeps one (a grid's buy -> sell cycles, an indicator
    bot's closed positions, a DCA bot's closed deals); else the closed trades."""
    if "round_trips" in state:
        return int(state["round_trips"])
    if "deal" in state and "phase" in state:
        open_deal = state["phase"] in {"opening", "in_deal", "closing"}
        return int(state["deal"]) - (1 if open_deal else 0)
    return trades


def _grid_breakdown(state: dict[str, Any], last_close: Decimal) -> GridBreakdown | None:
    if "grid_profit" not in state:
        return None
    lots = [(Decimal(amount), Decimal(cost)) for amount, cost, _ in state["lots"].values()]
    position = sum((amount for amount, _ in lots), ZERO)
    cost = sum((lot_cost for _, lot_cost in lots), ZERO)
    return GridBreakdown(
        grid_profit=Decimal(state["grid_profit"]),
        realized_pnl=Decimal(state["realized_pnl"]),
        unrealized_pnl=position * last_close - cost,
        position=position,
        position_cost=cost,
    )
