"""Indicator backtests without the candle loop: a walk from signal to signal.

An indicator bot without stop-loss or take-profit acts only on its signals: while flat it buys
(a market order sized from its free quote) at an entry signal, while long it sells what it holds
at an exit signal, and each order fills at the next candle's open, where the bot decides again
(it may leave at once on the candle its entry filled). Its run is then a walk: the next entry
from here, the candle after it, the next exit from there, the candle after it... each "next" a
bisection in the precomputed signal positions (the very masks the engine skips by). A sweep's
hundred runs cost their trades, not their candles' decisions and snapshots.

The money is the engine's own code in the engine's order: the strategy's sizing
(``entry_amount``) and books (``apply_fill``), the simulated account's lock, clip and settlement,
the same ``Decimal`` conversions of candle prices. So the run, every fill, fee, balance step and
the strategy's final state, equals the engine's to the digit, and so does its count of decisions;
the tests compare the two on real data over many parameter sets.

What the walk does not cover runs the engine (``covers``): another strategy, guards (stop-loss,
take-profit: price wakes between signals), the reference mode without skipping; and a run whose
order the account refuses (the engine then follows the strategy through its undo) starts over
in the engine.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np

from autogrid.backtest.engine import BacktestRun, BacktestSettings, TradeRecord, run_backtest
from autogrid.backtest.shared_series import SeriesMemo
from autogrid.backtest.signal_candles import NO_SIGNAL
from autogrid.exchanges.types import OrderType, Side
from autogrid.trading.candles import CandleArrays
from autogrid.trading.simulation.account import MARKET_BUY_MARGIN
from autogrid.trading.simulation.fills import SimOrder
from autogrid.trading.strategies.base import Strategy
from autogrid.trading.strategies.grid_config import round_amount
from autogrid.trading.strategies.indicator import IndicatorState, IndicatorStrategy
from autogrid.trading.strategies.signals import signal_candles

_ZERO, _ONE = Decimal(0), Decimal(1)
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET = OrderType.MARKET
# An entry budget this far under the minimum cost never buys (see ``_Books.never_enough``).
_MARGIN = Decimal("0.999999999")


class _Uncovered(Exception):
    """The walk met what only the engine follows: the run starts over there."""


def covers(strategy: Strategy[Any], settings: BacktestSettings) -> bool:
    """Whether ``strategy``'s backtest may be walked (the run may still fall back, see module)."""
    if type(strategy) is not IndicatorStrategy or not settings.skip_ahead:
        return False
    sizing = strategy.sizing
    return sizing.stop_loss_pct is None and sizing.take_profit_pct is None


def run_fast(
    strategy: Strategy[Any],
    candles: CandleArrays,
    settings: BacktestSettings,
    shared: SeriesMemo | None = None,
) -> BacktestRun:
    """``run_backtest``'s result, walked where that is exact, else from the engine."""
    walked = walk(strategy, candles, settings, shared)
    return walked if walked is not None else run_backtest(strategy, candles, settings, shared)


def walk(
    strategy: Strategy[Any],
    candles: CandleArrays,
    settings: BacktestSettings,
    shared: SeriesMemo | None = None,
) -> BacktestRun | None:
    """The walked run, or None where only the engine can run it (see the module)."""
    if len(candles) < 2 or not isinstance(strategy, IndicatorStrategy):
        return None
    if not covers(strategy, settings):
        return None
    try:
        return SignalWalk(strategy, candles, settings, shared).run()
    except _Uncovered:
        return None


class SignalWalk:
    """One indicator backtest walked from signal to signal (see the module)."""

    def __init__(
        self,
        strategy: IndicatorStrategy,
        candles: CandleArrays,
        settings: BacktestSettings,
        shared: SeriesMemo | None = None,
    ) -> None:
        self.strategy = strategy
        self.candles = candles
        self.settings = settings
        if shared is not None and shared.candles is candles:
            series = shared.indicators(strategy)
        else:
            series = strategy.indicators(candles.window(len(candles), len(candles)))
        entries, exits = signal_candles(strategy.rule, series)
        self.entries: list[int] = np.flatnonzero(entries).tolist()
        self.exits: list[int] = np.flatnonzero(exits).tolist()
        self.books = _Books(strategy, settings)
        self.decide_calls = 1  # the engine's first, on candle 0, where nothing is ready yet

    def run(self) -> BacktestRun:
        books = self.books
        last = len(self.candles)
        close = self.candles.close
        start, filled = 1, -1
        while True:
            flat = books.phase == "flat"
            found = _next(self.entries if flat else self.exits, start)
            if found >= last:
                break
            if found != filled:  # a signal on a fill's candle is that one decision's
                self.decide_calls += 1
            price = Decimal(repr(close.item(found)))  # the engine's conversion, digit for digit
            if flat and not books.enter(price):
                if books.never_enough():
                    # Flat with no order, nothing changes the account: every later entry
                    # signal is a decision that buys nothing.
                    self.decide_calls += len(self.entries) - bisect_left(self.entries, found + 1)
                    break
                start = found + 1
                continue
            if not flat and not books.exit(price):
                start = found + 1  # nothing to sell: flat at once, decided again after
                continue
            if found + 1 >= last:
                break  # placed on the last candle: it rests unfilled, its balance locked
            self.decide_calls += 1
            self._fill(found + 1)
            start = filled = found + 1  # the fill's candle is decided too
        return books.result(self.decide_calls, last)

    def _fill(self, index: int) -> None:
        candles = self.candles
        open_price = Decimal(repr(candles.open.item(index)))
        close_ms = int(candles.ts_ms[index]) + self.settings.timeframe_ms
        books = self.books
        books.fill(index, open_price, datetime.fromtimestamp(close_ms / 1000, UTC))


def _next(positions: list[int], start: int) -> int:
    found = bisect_left(positions, start)
    return positions[found] if found < len(positions) else NO_SIGNAL


class _Books:
    """The simulated account and the strategy's books, as plain fields.

    Each step is ``SimAccount``'s and ``IndicatorStrategy``'s arithmetic, operation for operation
    and in the same order (``Decimal`` results keep the exponents their operations give, and the
    final state is compared as text), without building their objects at every fill.
    """

    __slots__ = (
        "amount", "base_free", "base_locked", "cost", "entry_price", "fees_paid", "fees_quote",
        "fills", "locked", "order", "phase", "quote_free", "quote_locked", "realized_pnl",
        "round_trips", "settings", "steps", "strategy", "trade", "wins",
    )  # fmt: skip

    def __init__(self, strategy: IndicatorStrategy, settings: BacktestSettings) -> None:
        self.strategy = strategy
        self.settings = settings
        self.quote_free, self.base_free = settings.initial_quote, settings.initial_base
        self.quote_locked = self.base_locked = self.fees_paid = _ZERO
        start = IndicatorState()
        self.phase, self.trade, self.amount = start.phase, start.trade, start.amount
        self.entry_price, self.cost, self.realized_pnl = start.entry_price, start.cost, _ZERO
        self.fees_quote, self.round_trips, self.wins = start.fees_quote, 0, 0
        self.order: SimOrder | None = None
        self.locked = _ZERO
        self.fills: list[TradeRecord] = []
        self.steps: list[tuple[int, Decimal, Decimal]] = []

    def enter(self, price: Decimal) -> bool:
        """``IndicatorStrategy._enter`` and ``SimAccount.lock_for`` of its market buy."""
        amount = self.strategy.entry_amount(self.quote_free, price)
        if amount is None:
            return False
        needed = amount * price * (1 + self.settings.taker_fee)
        if needed > self.quote_free:
            raise _Uncovered  # refused: the engine follows the strategy's undo
        needed = min(self.quote_free, needed * MARKET_BUY_MARGIN)
        self.quote_free -= needed
        self.quote_locked += needed
        self.trade += 1
        self.phase, self.order, self.locked = "entering", _order(self.trade, _BUY, amount), needed
        return True

    def exit(self, price: Decimal) -> bool:
        """``IndicatorStrategy._exit`` and ``lock_for`` of its market sell (``price`` unused by a
        sell's lock: kept for the symmetry of the walk)."""
        amount = round_amount(self.amount, self.strategy.market.amount_step)
        if amount <= 0:
            self.phase, self.amount, self.entry_price, self.cost = "flat", _ZERO, None, _ZERO
            return False
        if amount > self.base_free:
            raise _Uncovered
        self.base_free -= amount
        self.base_locked += amount
        self.phase, self.order, self.locked = "exiting", _order(self.trade, _SELL, amount), amount
        return True

    def never_enough(self) -> bool:
        """No entry can buy while the free quote stays as it is (flat, nothing resting).

        ``entry_amount`` buys at most ``budget / (price * (1 + fee))`` rounded down, worth at most
        ``budget / (1 + fee)`` at ``price`` (up to Decimal's rounding, 1e-27 relative): a budget
        under the minimum cost times ``1 + fee``, by a margin far above that rounding, is refused
        at every price.
        """
        market = self.strategy.market
        budget = self.strategy.entry_budget(self.quote_free)
        return budget < market.min_cost * (1 + market.taker_fee) * _MARGIN

    def fill(self, index: int, open_price: Decimal, ts: datetime) -> None:
        """The resting market order filled at ``open_price``: the engine's ``_match`` and
        ``_settle`` (``SimAccount.affordable`` and ``settle``), then the strategy's books."""
        order, locked, taker = self.order, self.locked, self.settings.taker_fee
        assert order is not None
        buy = order.side is _BUY
        slippage = self.settings.slippage
        price = open_price * (1 + slippage) if buy else open_price * (1 - slippage)
        amount = order.amount
        if buy and price * amount * (1 + taker) > locked + self.quote_free:
            payable = (locked + self.quote_free) / (price * (1 + taker))
            step = self.settings.market.amount_step
            amount = (payable / step).to_integral_value(ROUND_DOWN) * step
        notional = price * amount
        fee = notional * taker
        self.fees_paid += fee
        if buy:
            self.quote_locked -= locked
            self.quote_free += locked - notional - fee
            self.base_free += amount
        else:
            self.base_locked -= locked
            self.quote_free += notional - fee
        self.fills.append(TradeRecord(index, ts, order.key, order.side, price, amount, fee, False))
        self.steps.append(
            (index, self.quote_free + self.quote_locked, self.base_free + self.base_locked)
        )
        self.order = None
        # Partial().add(fill): every figure starts from ZERO, as in the strategy.
        self._settle(buy, _ZERO + amount, _ZERO + price * amount, _ZERO + fee)

    def _settle(self, buy: bool, amount: Decimal, quote: Decimal, fee_quote: Decimal) -> None:
        """``IndicatorStrategy._settle`` of a complete order (no fee in base)."""
        fee_base = _ZERO + _ZERO
        average_price = quote / amount if amount else _ZERO
        self.fees_quote = self.fees_quote + (fee_quote + fee_base * average_price)
        if buy:
            self.phase = "long"
            self.amount = self.amount + (amount - fee_base)
            self.entry_price = average_price
            self.cost = self.cost + (quote + fee_quote)
            return
        held = self.amount
        sold_share = min(_ONE, amount / held) if held else _ONE
        sold_cost = self.cost * sold_share
        pnl = (quote - fee_quote) - sold_cost
        remaining = held - amount
        flat = remaining < self.strategy.market.min_amount
        self.phase = "flat" if flat else "long"
        self.amount = _ZERO if flat else remaining
        self.entry_price = None if flat else self.entry_price
        self.cost = _ZERO if flat else self.cost - sold_cost
        self.realized_pnl = self.realized_pnl + pnl
        self.round_trips = self.round_trips + (1 if flat else 0)
        self.wins = self.wins + (1 if flat and pnl > 0 else 0)

    def result(self, decide_calls: int, candles: int) -> BacktestRun:
        state = IndicatorState(
            self.phase, self.trade, self.amount, self.entry_price, self.cost, self.realized_pnl,
            self.fees_quote, self.round_trips, self.wins, {},
        )  # fmt: skip
        return BacktestRun(
            fills=self.fills,
            balance_steps=self.steps,
            final_quote=self.quote_free + self.quote_locked,
            final_base=self.base_free + self.base_locked,
            fees=self.fees_paid,
            strategy_state=self.strategy.dump_state(state),
            stop_reason=None,
            decide_calls=decide_calls,
            candles=candles,
        )


def _order(trade: int, side: Side, amount: Decimal) -> SimOrder:
    return SimOrder(f"{'E' if side is _BUY else 'X'}{trade}", side, _MARKET, amount, None)
