"""Indicator strategies: long-only entries and exits on closed candles of one timeframe.

The rule (``signals``) says when to enter while flat and when to leave while long; this class
sizes the position (a fixed quote amount or a share of the free quote), optionally guards it with
stop-loss and take-profit percentages, and acts with market orders that fill at the next price
the runner sees (the next candle's open in a backtest).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    Action,
    CandleWindow,
    Decision,
    PlaceOrder,
    Snapshot,
    StrategyConfigError,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.grid_config import round_amount
from autogrid.trading.strategies.grid_state import Partial
from autogrid.trading.strategies.signals import SignalRule, indicators_ready, signal_candles

HUNDRED = Decimal(100)
ZERO = Decimal(0)
_NOTHING_FILLED = Partial()  # frozen: one shared empty start for every order
# Enum members bound once: on Python 3.11 each ``Side.BUY`` goes through EnumType.__getattr__,
# a cost the backtest's hot loop pays dozens of times per trade.
_BUY, _SELL = Side.BUY, Side.SELL
_MARKET = OrderType.MARKET


@dataclass(frozen=True, slots=True)
class Sizing:
    order_quote: Decimal | None = None
    order_pct: Decimal = HUNDRED
    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None

    def validate(self) -> None:
        if self.order_quote is not None and self.order_quote <= 0:
            raise StrategyConfigError("order_quote must be positive")
        if not ZERO < self.order_pct <= HUNDRED:
            raise StrategyConfigError("order_pct must be in (0, 100]")
        for name, value in (
            ("stop_loss_pct", self.stop_loss_pct),
            ("take_profit_pct", self.take_profit_pct),
        ):
            if value is not None and not ZERO < value < 1000:
                raise StrategyConfigError(f"{name} must be positive")


@dataclass(frozen=True, slots=True)
class IndicatorState:
    phase: str = "flat"  # flat | entering | long | exiting
    trade: int = 0
    amount: Decimal = ZERO  # base held
    entry_price: Decimal | None = None
    cost: Decimal = ZERO  # quote paid for the position, fees included
    realized_pnl: Decimal = ZERO
    fees_quote: Decimal = ZERO
    round_trips: int = 0
    wins: int = 0
    pending: Mapping[str, Partial] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> IndicatorState:
        """``dataclasses.replace`` without its per-call introspection (backtests call it a lot):
        every field read at once, the changed ones swapped in by position (an unknown name is a
        KeyError)."""
        values = list(_ALL_FIELDS(self))
        for name, value in changes.items():
            values[_FIELD_POSITION[name]] = value
        return IndicatorState(*values)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "trade": self.trade,
            "amount": str(self.amount),
            "entry_price": None if self.entry_price is None else str(self.entry_price),
            "cost": str(self.cost),
            "realized_pnl": str(self.realized_pnl),
            "fees_quote": str(self.fees_quote),
            "round_trips": self.round_trips,
            "wins": self.wins,
            "pending": {
                tag: [
                    p.side.value if p.side else None,
                    str(p.amount),
                    str(p.quote),
                    str(p.fee_quote),
                    str(p.fee_base),
                ]
                for tag, p in self.pending.items()
            },
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> IndicatorState:
        entry = data.get("entry_price")
        return IndicatorState(
            phase=data["phase"],
            trade=int(data["trade"]),
            amount=Decimal(data["amount"]),
            entry_price=None if entry is None else Decimal(entry),
            cost=Decimal(data["cost"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            fees_quote=Decimal(data["fees_quote"]),
            round_trips=int(data["round_trips"]),
            wins=int(data["wins"]),
            pending={
                tag: Partial(
                    Side(s) if s else None, Decimal(a), Decimal(q), Decimal(fq), Decimal(fb)
                )
                for tag, (s, a, q, fq, fb) in data.get("pending", {}).items()
            },
        )


_STATE_FIELDS = tuple(item.name for item in fields(IndicatorState))
_ALL_FIELDS = attrgetter(*_STATE_FIELDS)
_FIELD_POSITION = {name: position for position, name in enumerate(_STATE_FIELDS)}
_NO_WAKE = Wake()


@dataclass(frozen=True, slots=True)
class IndicatorStrategy:
    rule: SignalRule
    sizing: Sizing
    market: MarketRules
    name: str = "indicator"

    def __post_init__(self) -> None:
        self.sizing.validate()

    def candles_needed(self) -> int:
        return self.rule.warmup()

    def indicators(self, candles: CandleWindow) -> dict[str, NDArray[np.float64]]:
        return self.rule.series(candles)

    def series_key(self) -> Hashable:
        """Equal keys, equal ``indicators`` over the same candles (shared across a sweep)."""
        return self.rule.series_key()

    def reads_candles(self) -> bool:
        """``decide`` reads the indicator values, never ``snapshot.candles``: a runner that has
        the values (the backtest engine precomputes them) need not pass the window itself."""
        return False

    def signal_mask(self, series: Mapping[str, NDArray[np.float64]]) -> NDArray[np.bool_]:
        """Candles where ``decide`` may enter or exit on a signal (the engine skips the rest)."""
        return self.rule.mask(series)

    def signal_masks_by_phase(
        self, series: Mapping[str, NDArray[np.float64]]
    ) -> dict[str, NDArray[np.bool_]]:
        """``signal_mask`` split by what ``decide`` acts on: entries while flat, exits while long.

        Exactly the candles where ``decide`` enters or exits (see ``signal_candles``): the engine
        then skips an exit signal while flat, and an entry signal while long.
        """
        entries, exits = signal_candles(self.rule, series)
        return {"flat": entries, "long": exits}

    def signal_phase(self, state: IndicatorState) -> str:
        return state.phase

    def initial_state(self, snapshot: Snapshot) -> IndicatorState:
        return IndicatorState()

    def dump_state(self, state: IndicatorState) -> dict[str, Any]:
        return state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> IndicatorState:
        return IndicatorState.from_dict(data)

    def decide(
        self, snapshot: Snapshot, state: IndicatorState, fills: Sequence[StrategyFill]
    ) -> Decision[IndicatorState]:
        for fill in fills:
            state = self._apply_fill(state, fill)
        state = self._forget_refused(snapshot, state)
        actions: list[Action] = []
        values = snapshot.indicators
        if state.phase == "flat":
            if indicators_ready(values) and self.rule.entry(values):
                state = self._enter(snapshot, state, actions)
        elif state.phase == "long" and (
            (indicators_ready(values) and self.rule.exit(values))
            or self._guard_hit(snapshot.price, state)
        ):
            state = self._exit(state, actions)
        return Decision(tuple(actions), state, self._wake(state))

    def entry_budget(self, free_quote: Decimal) -> Decimal:
        """The quote an entry may spend with ``free_quote`` free."""
        budget = free_quote * self.sizing.order_pct / HUNDRED
        if self.sizing.order_quote is not None:
            budget = min(self.sizing.order_quote, free_quote)
        return budget

    def entry_amount(self, free_quote: Decimal, price: Decimal) -> Decimal | None:
        """The base an entry at ``price`` buys (None: below the market's minimums, no order)."""
        # Leave room for the taker fee so the order is affordable at the reference price.
        amount = round_amount(
            self.entry_budget(free_quote) / (price * (1 + self.market.taker_fee)),
            self.market.amount_step,
        )
        if amount < self.market.min_amount or amount <= 0 or amount * price < self.market.min_cost:
            return None
        return amount

    def apply_fill(self, state: IndicatorState, fill: StrategyFill) -> IndicatorState:
        """The state after ``fill``, as ``decide`` applies it before deciding."""
        return self._apply_fill(state, fill)

    def _enter(
        self, snapshot: Snapshot, state: IndicatorState, actions: list[Action]
    ) -> IndicatorState:
        amount = self.entry_amount(snapshot.free_quote, snapshot.price)
        if amount is None:
            return state
        trade = state.trade + 1
        actions.append(PlaceOrder(f"E{trade}", _BUY, _MARKET, amount))
        return state.evolve(phase="entering", trade=trade)

    def _exit(self, state: IndicatorState, actions: list[Action]) -> IndicatorState:
        amount = round_amount(state.amount, self.market.amount_step)
        if amount <= 0:
            return state.evolve(phase="flat", amount=ZERO, entry_price=None, cost=ZERO)
        actions.append(PlaceOrder(f"X{state.trade}", _SELL, _MARKET, amount))
        return state.evolve(phase="exiting")

    def _apply_fill(self, state: IndicatorState, fill: StrategyFill) -> IndicatorState:
        done = state.pending.get(fill.tag, _NOTHING_FILLED).add(fill)
        if not fill.order_complete:
            return state.evolve(pending={**state.pending, fill.tag: done})
        pending = dict(state.pending)
        pending.pop(fill.tag, None)
        return self._settle(state, pending, done)

    def _settle(
        self, state: IndicatorState, pending: Mapping[str, Partial], done: Partial
    ) -> IndicatorState:
        """The books once an order is over (``done``: all its fills), ``pending`` the others."""
        average_price = done.average_price
        fee = done.fee_quote + done.fee_base * average_price
        fees_quote = state.fees_quote + fee
        # One new state per fill (not one per field group): construction is the hot cost here.
        if done.side is _BUY:
            return state.evolve(
                pending=pending,
                fees_quote=fees_quote,
                phase="long",
                amount=state.amount + done.net_base,
                entry_price=average_price,
                cost=state.cost + done.quote_spent,
            )
        sold_share = min(Decimal(1), done.amount / state.amount) if state.amount else Decimal(1)
        sold_cost = state.cost * sold_share
        pnl = done.quote_received - sold_cost
        remaining = state.amount - done.amount
        flat = remaining < self.market.min_amount
        return state.evolve(
            pending=pending,
            fees_quote=fees_quote,
            phase="flat" if flat else "long",
            amount=ZERO if flat else remaining,
            entry_price=None if flat else state.entry_price,
            cost=ZERO if flat else state.cost - sold_cost,
            realized_pnl=state.realized_pnl + pnl,
            round_trips=state.round_trips + (1 if flat else 0),
            wins=state.wins + (1 if flat and pnl > 0 else 0),
        )

    def _forget_refused(self, snapshot: Snapshot, state: IndicatorState) -> IndicatorState:
        """An entry or exit order that left the book without completing (refused, cancelled,
        expired): its fills so far are settled as the whole order, else the step is undone."""
        if state.phase not in {"entering", "exiting"}:
            return state
        entering = state.phase == "entering"
        tag = f"E{state.trade}" if entering else f"X{state.trade}"
        if snapshot.order(tag) is not None:
            return state
        pending = dict(state.pending)
        done = pending.pop(tag, None)
        if done is None or done.amount <= 0:
            return state.evolve(phase="flat" if entering else "long", pending=pending)
        return self._settle(state, pending, done)

    def _guard_hit(self, price: Decimal, state: IndicatorState) -> bool:
        stop, target = self._guards(state)
        return (stop is not None and price <= stop) or (target is not None and price >= target)

    def _guards(self, state: IndicatorState) -> tuple[Decimal | None, Decimal | None]:
        if state.entry_price is None:
            return None, None
        stop = target = None
        if self.sizing.stop_loss_pct is not None:
            stop = state.entry_price * (1 - self.sizing.stop_loss_pct / HUNDRED)
        if self.sizing.take_profit_pct is not None:
            target = state.entry_price * (1 + self.sizing.take_profit_pct / HUNDRED)
        return stop, target

    def _wake(self, state: IndicatorState) -> Wake:
        if state.phase != "long":
            return _NO_WAKE
        stop, target = self._guards(state)
        if stop is None and target is None:
            return _NO_WAKE  # no guards: only signals and fills wake a long position
        return Wake(price_at_or_below=stop, price_at_or_above=target)
