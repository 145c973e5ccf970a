"""The backtest engine: the live strategy classes, replayed over candles, fast.

For each candle the engine fills resting orders along the documented intra-candle path
(``autogrid.trading.simulation.fills``), then shows the strategy the close and the fills. With
``skip_ahead`` it jumps straight to the next candle where anything can happen (a resting order's
price is reached, a pending market order, a wake price or time, an indicator signal) using
vectorised scans; the strategy's wake promise makes that give the very same trades as calling it on
every candle, which the tests check on real data.

Where the time goes, and why it is cheap: candles between events cost a slice of a numpy
comparison; at an event only the orders the candle can reach are matched in ``Decimal`` (the
book is sorted by price, see ``book``), the strategy's view of the book is rebuilt only when it
changed, a candle window is sliced only for strategies that read one, and indicator signals are
looked up by bisection in the precomputed signal positions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from autogrid.backtest.book import OrderBook
from autogrid.backtest.price_scan import PriceTest, first_crossing
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.backtest.signal_candles import SignalCandles
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.candles import CandleArrays
from autogrid.trading.simulation.account import InsufficientBalance, SimAccount
from autogrid.trading.simulation.fills import Bar, SimFill, SimOrder, match_bar
from autogrid.trading.strategies.base import (
    CancelOrder,
    Decision,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
    Strategy,
    StrategyFill,
    Wake,
)

STOP_SELL_TAG = "STOPSELL"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    market: MarketRules
    initial_quote: Decimal
    initial_base: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    slippage: Decimal = Decimal(0)
    timeframe_ms: int = 60_000
    # False calls the strategy on every candle: slower, and the reference the fast path must match.
    skip_ahead: bool = True


@dataclass(frozen=True, slots=True)
class TradeRecord:
    """One fill in the backtest, in exact decimals."""

    index: int  # candle index
    ts: datetime
    tag: str
    side: Side
    price: Decimal
    amount: Decimal
    fee: Decimal
    is_maker: bool


@dataclass(slots=True)
class BacktestRun:
    fills: list[TradeRecord]
    # (candle index, quote total, base total) after each candle that changed balances
    balance_steps: list[tuple[int, Decimal, Decimal]]
    final_quote: Decimal
    final_base: Decimal
    fees: Decimal
    strategy_state: dict[str, Any]
    stop_reason: str | None
    decide_calls: int
    candles: int


def _window_length(strategy: Strategy[Any]) -> int:
    """How many closed candles each snapshot carries.

    None (0) for a strategy whose ``decide`` reads only the indicator values (it says so with
    ``reads_candles() -> False``): the engine precomputes those over the whole series, so slicing
    a window per decision would be pure cost.
    """
    reads_candles = getattr(strategy, "reads_candles", None)
    if reads_candles is not None and not reads_candles():
        return 0
    return strategy.candles_needed()


def _dec(value: float) -> Decimal:
    # repr of a float is the shortest text that round-trips: exactly what the candle file said.
    return Decimal(repr(value))


class BacktestEngine:
    def __init__(
        self,
        strategy: Strategy[Any],
        candles: CandleArrays,
        settings: BacktestSettings,
        shared: SeriesMemo | None = None,
    ):
        """``shared``: indicator series computed once for every run over ``candles`` (a sweep);
        the run is the same with or without it."""
        if len(candles) < 2:
            raise ValueError("a backtest needs at least two candles")
        self.strategy = strategy
        self.candles = candles
        self.settings = settings
        self.account = SimAccount(
            quote_free=settings.initial_quote,
            base_free=settings.initial_base,
            maker_fee=settings.maker_fee,
            taker_fee=settings.taker_fee,
        )
        self.book = OrderBook()
        self.fills: list[TradeRecord] = []
        self.steps: list[tuple[int, Decimal, Decimal]] = []
        # How far each candle's path reaches, the open included: the scans and the book's filter
        # stay exact even for a candle whose file says low > open.
        self.reach_low = np.minimum(candles.low, candles.open)
        self.reach_high = np.maximum(candles.high, candles.open)
        self.window_length = _window_length(strategy)
        if shared is not None and shared.candles is candles:
            self.indicators = shared.indicators(strategy)
        else:
            self.indicators = strategy.indicators(candles.window(len(candles), len(candles)))
        # What each decision reads of the series: (name, float64 values), no dict view per call.
        self.series = tuple(
            (name, np.asarray(series, dtype=np.float64)) for name, series in self.indicators.items()
        )
        self.signals = SignalCandles.of(strategy, self.indicators, by_phase=settings.skip_ahead)
        self.last = len(candles)
        self.decide_calls = 0
        self.stop_reason: str | None = None
        self.stopped = False
        self._timed: tuple[int, datetime] = (-1, _EPOCH)
        self._priced: tuple[int, Decimal] = (-1, _ZERO)

    # --- public -----------------------------------------------------------------------------
    def run(self) -> BacktestRun:
        state = self.strategy.initial_state(self._snapshot(0))
        decision = self._decide(0, state, [])
        state = decision.state
        wake = decision.wake
        signals = self.signals
        signals.follow(state)
        index = 1
        last = len(self.candles)
        skip_ahead = self.settings.skip_ahead
        book = self.book
        while index < last and not (self.stopped and not book.orders):
            if skip_ahead:
                index = self._next_event(index, wake)
                if index >= last:
                    break
            fills = self._match(index) if book.orders else []
            if self.stopped:
                index += 1
                continue
            if fills or not skip_ahead or self._wakes(index, wake):
                decision = self._decide(index, state, fills)
                state, wake = decision.state, decision.wake
                signals.follow(state)
            index += 1
        return BacktestRun(
            fills=self.fills,
            balance_steps=self.steps,
            final_quote=self.account.quote_total,
            final_base=self.account.base_total,
            fees=self.account.fees_paid,
            strategy_state=self.strategy.dump_state(state),
            stop_reason=self.stop_reason,
            decide_calls=self.decide_calls,
            candles=last,
        )

    # --- events -----------------------------------------------------------------------------
    def _close_time(self, index: int) -> datetime:
        # The fills of a candle and the decision after it share one timestamp: compute it once.
        timed_index, timed = self._timed
        if timed_index != index:
            close_ms = int(self.candles.ts_ms[index]) + self.settings.timeframe_ms
            timed = datetime.fromtimestamp(close_ms / 1000, UTC)  # tz by position: a third faster
            self._timed = (index, timed)
        return timed

    def _close_price(self, index: int) -> Decimal:
        priced_index, price = self._priced
        if priced_index != index:
            price = _dec(self.candles.close.item(index))
            self._priced = (index, price)
        return price

    def _snapshot(self, index: int) -> Snapshot:
        length = self.window_length
        account = self.account
        # By position (a quarter faster than by keyword, once per decision), in field order:
        return Snapshot(
            self._close_time(index),  # now
            self.settings.market,
            self._close_price(index),  # price
            self.book.views(),  # open_orders
            account.base_free,
            account.quote_free,
            self.candles.window(index + 1, length) if length else None,
            self._indicator_values(index),
        )

    def _indicator_values(self, index: int) -> dict[str, tuple[float, float]]:
        """Each series at the candle and at the one before (NaN before the first candle)."""
        values: dict[str, tuple[float, float]] = {}
        for name, series in self.series:
            values[name] = (series.item(index), series.item(index - 1) if index else math.nan)
        return values

    def _decide(self, index: int, state: Any, fills: Sequence[StrategyFill]) -> Decision[Any]:
        self.decide_calls += 1
        decision = self.strategy.decide(self._snapshot(index), state, fills)
        for action in decision.actions:
            if isinstance(action, PlaceOrder):
                self._place(action, index)
            elif isinstance(action, CancelOrder):
                self._cancel(action.tag)
            elif isinstance(action, StopBot):
                self._stop(action, index)
        return decision

    def _place(self, action: PlaceOrder, index: int) -> None:
        if action.tag in self.book.orders:
            raise ValueError(f"strategy placed tag {action.tag} twice")
        sim = SimOrder(action.tag, action.side, action.type, action.amount, action.price)
        try:
            locked = self.account.lock_for(sim, self._close_price(index))
        except InsufficientBalance:
            return  # refused: the strategy sees the order vanish, as with a live rejection
        resting = RestingOrder(action.tag, action.side, action.type, action.price, action.amount)
        self.book.add(resting, sim, locked)

    def _cancel(self, tag: str) -> None:
        live = self.book.pop(tag)
        if live is not None:
            self.account.release(live.sim, live.locked)

    def _stop(self, action: StopBot, index: int) -> None:
        self.stopped = True
        self.stop_reason = action.reason
        if action.cancel_orders:
            for tag in list(self.book.orders):
                self._cancel(tag)
        if action.sell_base and self.account.base_free > 0:
            amount = self.account.base_free
            self._place(PlaceOrder(STOP_SELL_TAG, Side.SELL, OrderType.MARKET, amount), index)

    def _match(self, index: int) -> list[StrategyFill]:
        reachable = self.book.reachable(self.reach_low.item(index), self.reach_high.item(index))
        if not reachable:
            return []
        book = self.book
        bar = self._bar(index) if book.buys or book.sells else self._open_bar(index)
        hits = match_bar([live.sim for live in reachable], bar, self.settings.slippage)
        if not hits:
            return []
        ts = self._close_time(index)
        fills = [self._settle(hit, index, ts) for hit in hits]
        account = self.account
        self.steps.append((index, account.quote_total, account.base_total))
        return fills

    def _open_bar(self, index: int) -> Bar:
        """The candle for a book of market orders only, flat at its open.

        A market order fills at the open whatever the candle's path (``fills``), so the extremes
        would never be read: like the paper exchange's flat bar for market orders at live prices,
        this converts one price instead of three.
        """
        open_price = _dec(self.candles.open.item(index))
        return Bar(open_price, open_price, open_price, open_price)

    def _bar(self, index: int) -> Bar:
        candles = self.candles
        return Bar(
            _dec(candles.open.item(index)),
            _dec(candles.high.item(index)),
            _dec(candles.low.item(index)),
            self._close_price(index),
        )

    def _settle(self, hit: SimFill, index: int, ts: datetime) -> StrategyFill:
        live = self.book.pop(hit.key)
        assert live is not None
        account = self.account
        payable = account.affordable(hit, live.locked, self.settings.market.amount_step)
        if payable != hit.amount:
            hit = SimFill(hit.key, hit.side, hit.price, payable, hit.is_maker)
        fee = account.settle(hit, live.locked)
        self.fills.append(
            TradeRecord(index, ts, hit.key, hit.side, hit.price, hit.amount, fee, hit.is_maker)
        )
        return StrategyFill(hit.key, hit.side, hit.price, hit.amount, fee, _ZERO, ts, True)

    # --- skipping ---------------------------------------------------------------------------
    def _wakes(self, index: int, wake: Wake) -> bool:
        if wake.every_candle:
            return True
        if self.signals.at(index):
            return True
        if wake.at is not None and self._close_time(index) >= wake.at:
            return True
        # Float comparisons may wake a candle the exact one would not (decide then does nothing),
        # never the reverse: rounding to float is monotonic.
        close = float(self.candles.close[index])
        if wake.price_at_or_below is not None and close <= float(wake.price_at_or_below):
            return True
        return wake.price_at_or_above is not None and close >= float(wake.price_at_or_above)

    def _next_event(self, start: int, wake: Wake) -> int:
        """The first candle at or after ``start`` where a fill, wake or signal can happen."""
        if self.book.markets or wake.every_candle:
            return start
        last = self.last
        wake_index = last
        if wake.at is not None:
            due_ms = (wake.at - _EPOCH) // timedelta(milliseconds=1) - self.settings.timeframe_ms
            wake_index = int(np.searchsorted(self.candles.ts_ms, due_ms, side="left"))
        # Nothing after the wake time or the next signal needs scanning: one of them is the event.
        fallback = max(wake_index, start) if wake_index < last else last
        fallback = min(fallback, self.signals.next_at_or_after(start))
        hit = self._first_price_hit(start, fallback, wake)
        return fallback if hit is None else hit

    def _first_price_hit(self, start: int, stop: int, wake: Wake) -> int | None:
        """First candle in [start, stop) that reaches a resting order or a wake price."""
        book = self.book
        tests: list[PriceTest] = []
        if book.buys:
            tests.append((self.reach_low, book.best_buy, True))
        if book.sells:
            tests.append((self.reach_high, book.best_sell, False))
        if wake.price_at_or_below is not None:
            tests.append((self.candles.close, float(wake.price_at_or_below), True))
        if wake.price_at_or_above is not None:
            tests.append((self.candles.close, float(wake.price_at_or_above), False))
        return first_crossing(tests, start, stop) if tests else None


def run_backtest(
    strategy: Strategy[Any],
    candles: CandleArrays,
    settings: BacktestSettings,
    shared: SeriesMemo | None = None,
) -> BacktestRun:
    return BacktestEngine(strategy, candles, settings, shared).run()


def summarize_fills(run: BacktestRun) -> Mapping[str, int]:
    buys = sum(1 for fill in run.fills if fill.side is Side.BUY)
    return {"fills": len(run.fills), "buys": buys, "sells": len(run.fills) - buys}
