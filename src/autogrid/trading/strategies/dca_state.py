"""The DCA strategy's state: the open deal, its fills, and the history of closed deals.

Every fill is counted in the deal's totals as it arrives, whichever order it belongs to and
whatever else filled with it: the totals follow the account, and ``decide`` derives the orders
the deal needs from them afterwards (see ``dca``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.exchanges.types import Side
from autogrid.trading.strategies.base import StrategyFill
from autogrid.trading.strategies.grid_state import Partial
from autogrid.trading.strategies.signal_bot_state import SignalOutcome, TimedSignal

ZERO = Decimal(0)
KEPT_DEALS = 200


@dataclass(frozen=True, slots=True)
class DealRecord:
    number: int
    opened_at: datetime
    closed_at: datetime
    close_reason: str  # take_profit | trailing_take_profit | stop_loss | stopped
    base_price: Decimal
    average_entry: Decimal
    amount: Decimal
    cost: Decimal  # quote paid for everything bought, fees included
    proceeds: Decimal  # quote received for everything sold, after fees
    safety_orders_filled: int

    @property
    def profit(self) -> Decimal:
        return self.proceeds - self.cost

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat(),
            "close_reason": self.close_reason,
            "base_price": str(self.base_price),
            "average_entry": str(self.average_entry),
            "amount": str(self.amount),
            "cost": str(self.cost),
            "proceeds": str(self.proceeds),
            "profit": str(self.profit),
            "safety_orders_filled": self.safety_orders_filled,
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DealRecord:
        return DealRecord(
            number=int(data["number"]),
            opened_at=datetime.fromisoformat(data["opened_at"]),
            closed_at=datetime.fromisoformat(data["closed_at"]),
            close_reason=str(data["close_reason"]),
            base_price=Decimal(data["base_price"]),
            average_entry=Decimal(data["average_entry"]),
            amount=Decimal(data["amount"]),
            cost=Decimal(data["cost"]),
            proceeds=Decimal(data["proceeds"]),
            safety_orders_filled=int(data["safety_orders_filled"]),
        )


TRANSIENT = frozenset({"commands", "outcomes"})


@dataclass(slots=True)
class DcaState:
    """Treated as immutable by callers: ``decide`` works on ``copy()`` and returns it."""

    phase: str = "idle"  # idle | opening | in_deal | closing | stopped
    deal: int = 0
    next_start_at: datetime | None = None
    opened_at: datetime | None = None
    base_price: Decimal | None = None
    bought_amount: Decimal = ZERO  # gross base bought in this deal
    bought_notional: Decimal = ZERO  # sum of price x amount of the buys
    net_base: Decimal = ZERO  # base actually held (after fees taken in base)
    deal_cost: Decimal = ZERO  # quote paid, fees included
    deal_proceeds: Decimal = ZERO  # quote received for sales in this deal, after fees
    # Base sold before the deal closed (a take profit that filled with a safety order, a partial
    # take profit) and its entry cost at the average then: the average cost of what is left.
    sold_amount: Decimal = ZERO
    sold_basis: Decimal = ZERO
    safety_filled: int = 0
    safety_placed: int = 0
    tp_version: int = 0
    tp_live: str | None = None
    trailing_active: bool = False
    peak: Decimal | None = None
    exit_reason: str | None = None
    exit_version: int = 0
    # A market order (base order, exit) refused before it reached the book, by pre-trade risk
    # or the exchange: how many times in a row, and when it may be placed again (``DealOrders``
    # backs off while the refusals go on). Stored, so a restarted worker keeps waiting.
    refusals: int = 0
    retry_at: datetime | None = None
    # The take profit left the book without a fill (rejected by the exchange, a price filter
    # say; cancelled by someone else): placed again with the same back-off, not at every tick.
    tp_refusals: int = 0
    tp_retry_at: datetime | None = None
    live: frozenset[str] = frozenset()
    # Fills of live orders so far (already counted in the totals): a base order's price, and
    # whether a safety order bought anything, are known when the order is done.
    partials: dict[str, Partial] = field(default_factory=dict)
    deals: tuple[DealRecord, ...] = ()
    realized_pnl: Decimal = ZERO
    fees_quote: Decimal = ZERO
    # Deal commands handed in by the runtime and their outcomes (``dca_commands``): transient,
    # never stored (the runtime hands them over and takes the outcomes out in one decision).
    commands: tuple[TimedSignal, ...] = ()
    outcomes: tuple[SignalOutcome, ...] = ()

    def copy(self) -> DcaState:
        return replace(self, partials=dict(self.partials))

    @property
    def average_entry(self) -> Decimal | None:
        """The average price of everything the deal bought."""
        return self.bought_notional / self.bought_amount if self.bought_amount else None

    @property
    def entry_price(self) -> Decimal | None:
        """The average cost of the base still held (equals ``average_entry`` until a sale)."""
        if not self.sold_amount:
            return self.bought_notional / self.bought_amount if self.bought_amount else None
        amount = self.bought_amount - self.sold_amount
        return (self.bought_notional - self.sold_basis) / amount if amount > 0 else None

    def count(self, fill: StrategyFill) -> None:
        """Add one fill to the deal's totals (in place: call it on a working copy)."""
        notional = fill.price * fill.amount
        self.fees_quote += fill.fee_quote + fill.fee_base * fill.price
        if fill.side is Side.BUY:
            self.bought_amount += fill.amount
            self.bought_notional += notional
            self.net_base += fill.amount - fill.fee_base
            self.deal_cost += notional + fill.fee_quote
            return
        entry = self.entry_price
        if entry is not None:
            portion = min(fill.amount, self.bought_amount - self.sold_amount)
            self.sold_amount += portion
            self.sold_basis += portion * entry
        self.net_base -= fill.amount
        self.deal_proceeds += notional - fill.fee_quote

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for item in fields(self):
            if item.name in TRANSIENT:
                continue
            value = getattr(self, item.name)
            if item.name == "partials":
                key = "progress"  # counted fills (an older "partials" was not counted yet)
                value = {
                    tag: [
                        p.side.value if p.side else None,
                        str(p.amount),
                        str(p.quote),
                        str(p.fee_quote),
                        str(p.fee_base),
                    ]
                    for tag, p in value.items()
                }
            elif item.name == "deals":
                value = [deal.to_dict() for deal in value]
            elif item.name == "live":
                value = sorted(value)
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, datetime):
                value = value.isoformat()
            data[key if item.name == "partials" else item.name] = value
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> DcaState:
        def dec(name: str) -> Decimal | None:
            raw = data.get(name)
            return None if raw is None else Decimal(raw)

        def when(name: str) -> datetime | None:
            raw = data.get(name)
            return None if raw is None else datetime.fromisoformat(raw)

        progress = data.get("progress")
        state = DcaState(
            phase=data["phase"],
            deal=int(data["deal"]),
            next_start_at=when("next_start_at"),
            opened_at=when("opened_at"),
            base_price=dec("base_price"),
            bought_amount=Decimal(data["bought_amount"]),
            bought_notional=Decimal(data["bought_notional"]),
            net_base=Decimal(data["net_base"]),
            deal_cost=Decimal(data["deal_cost"]),
            deal_proceeds=Decimal(data["deal_proceeds"]),
            safety_filled=int(data["safety_filled"]),
            safety_placed=int(data["safety_placed"]),
            tp_version=int(data["tp_version"]),
            tp_live=data.get("tp_live"),
            trailing_active=bool(data["trailing_active"]),
            peak=dec("peak"),
            exit_reason=data.get("exit_reason"),
            exit_version=int(data.get("exit_version", 0)),
            refusals=int(data.get("refusals", 0)),
            retry_at=when("retry_at"),
            tp_refusals=int(data.get("tp_refusals", 0)),
            tp_retry_at=when("tp_retry_at"),
            live=frozenset(data["live"]),
            partials=_partials(progress if progress is not None else data["partials"]),
            deals=tuple(DealRecord.from_dict(d) for d in data["deals"]),
            realized_pnl=Decimal(data["realized_pnl"]),
            fees_quote=Decimal(data["fees_quote"]),
            sold_amount=Decimal(data.get("sold_amount", "0")),
            sold_basis=Decimal(data.get("sold_basis", "0")),
        )
        if progress is None:  # saved before fills were counted as they came: count them now
            for tag, partial in state.partials.items():
                state.count(_as_fill(tag, partial))
        return state


def _partials(data: Mapping[str, Any]) -> dict[str, Partial]:
    return {
        tag: Partial(Side(s) if s else None, Decimal(a), Decimal(q), Decimal(fq), Decimal(fb))
        for tag, (s, a, q, fq, fb) in data.items()
    }


def _as_fill(tag: str, partial: Partial) -> StrategyFill:
    """One fill standing for an order's fills so far (their totals, at their average price)."""
    return StrategyFill(
        tag,
        partial.side or Side.BUY,
        partial.average_price,
        partial.amount,
        partial.fee_quote,
        partial.fee_base,
        datetime.min,
        False,
    )
