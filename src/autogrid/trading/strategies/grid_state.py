"""The grid's own state: what it holds per level, what it believes is live, and its accounting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from autogrid.exchanges.types import Side
from autogrid.trading.strategies.base import StrategyFill
from autogrid.trading.strategies.refusals import Backoff

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Lot:
    """Base waiting to be sold at one level, with the quote it cost (fees included)."""

    amount: Decimal
    cost: Decimal
    from_grid: bool = True

    @staticmethod
    def empty() -> Lot:
        return Lot(ZERO, ZERO)

    def merge(self, other: Lot) -> Lot:
        from_grid = other.from_grid if self.amount == 0 else self.from_grid and other.from_grid
        return Lot(self.amount + other.amount, self.cost + other.cost, from_grid)

    def cost_of(self, amount: Decimal) -> Decimal:
        if self.amount <= 0:
            return ZERO
        return self.cost * min(amount, self.amount) / self.amount

    def without(self, amount: Decimal) -> Lot:
        sold = min(amount, self.amount)
        return Lot(self.amount - sold, self.cost - self.cost_of(sold), self.from_grid)


@dataclass(frozen=True, slots=True)
class Partial:
    """Fills of one order accumulated until it completes."""

    side: Side | None = None
    amount: Decimal = ZERO
    quote: Decimal = ZERO  # price x amount, before fees
    fee_quote: Decimal = ZERO
    fee_base: Decimal = ZERO

    def add(self, fill: StrategyFill) -> Partial:
        return Partial(
            side=fill.side,
            amount=self.amount + fill.amount,
            quote=self.quote + fill.price * fill.amount,
            fee_quote=self.fee_quote + fill.fee_quote,
            fee_base=self.fee_base + fill.fee_base,
        )

    @property
    def average_price(self) -> Decimal:
        return self.quote / self.amount if self.amount else ZERO

    @property
    def net_base(self) -> Decimal:
        return self.amount - self.fee_base

    @property
    def quote_spent(self) -> Decimal:
        return self.quote + self.fee_quote

    @property
    def quote_received(self) -> Decimal:
        return self.quote - self.fee_quote


@dataclass(frozen=True, slots=True)
class GridState:
    phase: str = "new"  # new | initializing | running | stopped
    offset: int = 0  # lowest level of the ladder (trailing moves it)
    init_empty_level: int = 0
    live: frozenset[str] = frozenset()
    cancelling: frozenset[str] = frozenset()  # cancel sent; settled once it leaves the book
    lots: Mapping[int, Lot] = field(default_factory=dict)
    partials: Mapping[str, Partial] = field(default_factory=dict)
    realized_pnl: Decimal = ZERO
    grid_profit: Decimal = ZERO
    fees_quote: Decimal = ZERO
    round_trips: int = 0
    shifts: int = 0
    # A sell cancelled by a downward shift, by tag: the level its inventory moved to (a fill
    # that beats the cancel sold part of it there). That level's sell waits until every such
    # sell is over, so it never offers base the cancelled one may still sell.
    moved: Mapping[str, int] = field(default_factory=dict)
    # A live buy placed for less than its level's amount (the unfilled rest of a buy an upward
    # shift moved), by tag: its amount, so that moving it again moves only the quote it holds.
    sizes: Mapping[str, Decimal] = field(default_factory=dict)
    # Sells that left the book unfilled, not cancelled by the grid (rejected by the exchange, a
    # price filter say; cancelled by someone else): their levels, placed again once ``backoff``
    # allows, so an exchange that keeps rejecting them is not sent them at every tick.
    unplaced: frozenset[int] = frozenset()
    # Buys that left the book unfilled the same way, by level: the amount each still had to buy
    # (the quote it holds), placed again with the sells under the same ``backoff``. Left
    # unplaced, a rejected buy was a level the ladder never bought at again.
    unplaced_buys: Mapping[int, Decimal] = field(default_factory=dict)
    backoff: Backoff = field(default_factory=Backoff)

    @property
    def position(self) -> Decimal:
        return sum((lot.amount for lot in self.lots.values()), ZERO)

    @property
    def position_cost(self) -> Decimal:
        return sum((lot.cost for lot in self.lots.values()), ZERO)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "offset": self.offset,
            "init_empty_level": self.init_empty_level,
            "live": sorted(self.live),
            "cancelling": sorted(self.cancelling),
            "lots": {
                str(level): [str(lot.amount), str(lot.cost), lot.from_grid]
                for level, lot in sorted(self.lots.items())
            },
            "partials": {
                tag: [
                    p.side.value if p.side else None,
                    str(p.amount),
                    str(p.quote),
                    str(p.fee_quote),
                    str(p.fee_base),
                ]
                for tag, p in sorted(self.partials.items())
            },
            "realized_pnl": str(self.realized_pnl),
            "grid_profit": str(self.grid_profit),
            "fees_quote": str(self.fees_quote),
            "round_trips": self.round_trips,
            "shifts": self.shifts,
            "moved": dict(sorted(self.moved.items())),
            "sizes": {tag: str(amount) for tag, amount in sorted(self.sizes.items())},
            "unplaced": sorted(self.unplaced),
            "unplaced_buys": {
                str(level): str(amount) for level, amount in sorted(self.unplaced_buys.items())
            },
            "backoff": self.backoff.to_dict(),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> GridState:
        return GridState(
            phase=str(data["phase"]),
            offset=int(data["offset"]),
            init_empty_level=int(data.get("init_empty_level", 0)),
            live=frozenset(data["live"]),
            cancelling=frozenset(data.get("cancelling", ())),
            lots={
                int(level): Lot(Decimal(amount), Decimal(cost), bool(from_grid))
                for level, (amount, cost, from_grid) in data["lots"].items()
            },
            partials={
                tag: Partial(
                    Side(side) if side else None, Decimal(a), Decimal(q), Decimal(fq), Decimal(fb)
                )
                for tag, (side, a, q, fq, fb) in data["partials"].items()
            },
            realized_pnl=Decimal(data["realized_pnl"]),
            grid_profit=Decimal(data["grid_profit"]),
            fees_quote=Decimal(data["fees_quote"]),
            round_trips=int(data["round_trips"]),
            shifts=int(data.get("shifts", 0)),
            moved={str(tag): int(level) for tag, level in data.get("moved", {}).items()},
            sizes={str(tag): Decimal(amount) for tag, amount in data.get("sizes", {}).items()},
            unplaced=frozenset(int(level) for level in data.get("unplaced", ())),
            unplaced_buys={
                int(level): Decimal(amount)
                for level, amount in data.get("unplaced_buys", {}).items()
            },
            backoff=Backoff.from_dict(data.get("backoff", {})),
        )


@dataclass(slots=True)
class GridDraft:
    """A mutable copy of a ``GridState`` for the span of one ``decide``.

    ``decide`` copies the state in once and freezes the result once: a new frozen state per step
    (``dataclasses.replace`` and a fresh set or dict per fill) was the grid's main cost in
    backtests. The input state is never touched, so states stay values.
    """

    phase: str
    offset: int
    init_empty_level: int
    live: set[str]
    cancelling: set[str]
    lots: dict[int, Lot]
    partials: dict[str, Partial]
    realized_pnl: Decimal
    grid_profit: Decimal
    fees_quote: Decimal
    round_trips: int
    shifts: int
    moved: dict[str, int]
    sizes: dict[str, Decimal]
    unplaced: set[int]
    unplaced_buys: dict[int, Decimal]
    backoff: Backoff

    @staticmethod
    def of(state: GridState) -> GridDraft:
        return GridDraft(
            state.phase,
            state.offset,
            state.init_empty_level,
            set(state.live),
            set(state.cancelling),
            dict(state.lots),
            dict(state.partials),
            state.realized_pnl,
            state.grid_profit,
            state.fees_quote,
            state.round_trips,
            state.shifts,
            dict(state.moved) if state.moved else {},
            dict(state.sizes) if state.sizes else {},
            set(state.unplaced) if state.unplaced else set(),
            dict(state.unplaced_buys) if state.unplaced_buys else {},
            state.backoff,
        )

    def freeze(self) -> GridState:
        return GridState(
            self.phase,
            self.offset,
            self.init_empty_level,
            frozenset(self.live),
            frozenset(self.cancelling),
            self.lots,
            self.partials,
            self.realized_pnl,
            self.grid_profit,
            self.fees_quote,
            self.round_trips,
            self.shifts,
            self.moved,
            self.sizes,
            frozenset(self.unplaced) if self.unplaced else frozenset(),
            self.unplaced_buys,
            self.backoff,
        )
