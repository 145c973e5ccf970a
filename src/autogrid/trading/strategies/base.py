"""The strategy contract.

A strategy is pure: ``decide(snapshot, state, fills) -> Decision``. It sees market rules, the
reference price, its own resting orders and free balances, closed candles when it asked for them,
and the fills since its last call; it returns actions and its next state. It never generates ids,
reads a clock or touches I/O, so the same class runs in backtests, paper and live.

Timing model, shared by every runner: the strategy is called at candle boundaries (backtest,
paper replay) or at ticks (live, paper on live prices). Orders it places rest from then on; a
market order fills at the next price the runner sees (the next candle's open in a backtest).

Wake conditions are the strategy's promise: if none of the declared conditions holds and there are
no new fills, calling ``decide`` would return no actions and an equal state. That promise is what
lets the backtest engine skip quiet candles without changing a single trade (tested both ways).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.candles import CandleArrays


class StrategyConfigError(ValueError):
    """A configuration the strategy cannot run with; the message says why (API: 422)."""


@dataclass(frozen=True, slots=True)
class RestingOrder:
    """One of the strategy's orders still live on the exchange."""

    tag: str
    side: Side
    type: OrderType
    price: Decimal | None
    amount: Decimal
    filled: Decimal = Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled


@dataclass(frozen=True, slots=True)
class StrategyFill:
    """A trade on one of the strategy's orders, identified by the order's tag."""

    tag: str
    side: Side
    price: Decimal
    amount: Decimal
    fee_quote: Decimal  # fee charged in the quote currency
    fee_base: Decimal  # fee charged in the base currency (reduces the base received)
    ts: datetime
    order_complete: bool  # the order is now fully filled


# Closed candles, oldest first, as float arrays (indicators only; never for money math).
CandleWindow = CandleArrays


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: datetime
    market: MarketRules
    price: Decimal  # reference price: the last close (replay) or last trade (live)
    open_orders: tuple[RestingOrder, ...]
    free_base: Decimal
    free_quote: Decimal
    candles: CandleWindow | None = None
    # Indicator values at the latest closed candle and the one before, by name (see indicators()).
    indicators: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def order(self, tag: str) -> RestingOrder | None:
        for resting in self.open_orders:
            if resting.tag == tag:
                return resting
        return None


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    tag: str  # unique among the strategy's live orders
    side: Side
    type: OrderType
    amount: Decimal
    price: Decimal | None = None  # None for market orders
    # The stop protecting an entry, if the strategy has one: the account's risk per trade is
    # measured from the entry price down to it.
    stop_price: Decimal | None = None
    # Which attempt in a row at this order, when the strategy places again one refused before
    # it reached the book (1: the first). A later attempt refused again is recorded, but its
    # owner is not told again: the episode's first refusal was journalled.
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class CancelOrder:
    tag: str


@dataclass(frozen=True, slots=True)
class StopBot:
    reason: str
    cancel_orders: bool = True
    sell_base: bool = False


Action = PlaceOrder | CancelOrder | StopBot


@dataclass(frozen=True, slots=True)
class Wake:
    """When to call the strategy again even without fills (all optional, any one suffices)."""

    price_at_or_below: Decimal | None = None
    price_at_or_above: Decimal | None = None
    at: datetime | None = None
    every_candle: bool = False  # indicator strategies that must see every close

    @staticmethod
    def never() -> Wake:
        return Wake()


S = TypeVar("S")
StateT = TypeVar("StateT")


@dataclass(frozen=True, slots=True)
class Decision(Generic[StateT]):
    actions: tuple[Action, ...]
    state: StateT
    wake: Wake = field(default_factory=Wake.never)


class Strategy(Protocol[S]):
    """What every strategy class implements. ``S`` is its own frozen state dataclass."""

    @property
    def name(self) -> str:
        """A short identifier of the strategy kind (grid, dca, indicator)."""
        ...

    def candles_needed(self) -> int:
        """How many closed candles the snapshot must carry (0: none)."""
        ...

    def indicators(self, candles: CandleWindow) -> dict[str, NDArray[np.float64]]:
        """Indicator series over the candles, computed vectorially by the runner."""
        ...

    def initial_state(self, snapshot: Snapshot) -> S: ...

    def decide(
        self, snapshot: Snapshot, state: S, fills: Sequence[StrategyFill]
    ) -> Decision[S]: ...

    def dump_state(self, state: S) -> dict[str, Any]: ...

    def load_state(self, data: Mapping[str, Any]) -> S: ...


class PriceOnly:
    """For strategies that decide on prices and fills alone: no candles, no indicators."""

    __slots__ = ()

    def candles_needed(self) -> int:
        return 0

    def indicators(self, candles: CandleWindow) -> dict[str, NDArray[np.float64]]:
        return {}

    def series_key(self) -> Hashable:
        return ()  # no indicators: every instance computes the same (empty) series
