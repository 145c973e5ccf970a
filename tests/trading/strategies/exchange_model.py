"""An honest spot account for driving a pure strategy by hand: orders lock their funds, a refused
or cancelled order frees them, a fill (whole or partial) moves exactly what it traded.

The strategy tests feed fills to ``decide`` in any order and any grouping through this model, and
check what the strategy believes against what the account really holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
    StrategyFill,
)

ZERO = Decimal(0)
MARKET_MARGIN = Decimal("1.05")


class Oversized(AssertionError):
    """The strategy sized an order beyond the balance it was shown (plus what it freed)."""


@dataclass(slots=True)
class Order:
    tag: str
    side: Side
    type: OrderType
    price: Decimal | None
    amount: Decimal
    reference: Decimal  # the decision's price: where a market order fills, what it locks
    filled: Decimal = ZERO
    locked: Decimal = ZERO
    cancel_requested: bool = False

    @property
    def remaining(self) -> Decimal:
        return self.amount - self.filled

    def view(self) -> RestingOrder:
        return RestingOrder(self.tag, self.side, self.type, self.price, self.amount, self.filled)


@dataclass(slots=True)
class Account:
    market: MarketRules
    free_quote: Decimal
    free_base: Decimal = ZERO
    fee: Decimal = Decimal("0.001")
    fee_in_base: bool = False  # buys pay their fee in the base received (Binance without BNB)
    orders: dict[str, Order] = field(default_factory=dict)
    unseen: list[StrategyFill] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    stopped: StopBot | None = None

    @property
    def base_total(self) -> Decimal:
        locked = sum((o.locked for o in self.orders.values() if o.side is Side.SELL), ZERO)
        return self.free_base + locked

    @property
    def quote_total(self) -> Decimal:
        locked = sum((o.locked for o in self.orders.values() if o.side is Side.BUY), ZERO)
        return self.free_quote + locked

    def snapshot(self, now: datetime, price: Decimal) -> Snapshot:
        return Snapshot(
            now=now,
            market=self.market,
            price=price,
            open_orders=tuple(order.view() for order in self.orders.values()),
            free_base=self.free_base,
            free_quote=self.free_quote,
        )

    def take_fills(self) -> list[StrategyFill]:
        fills, self.unseen = self.unseen, []
        return fills

    # --- the strategy's actions ---------------------------------------------------------------
    def check_sizes(self, snapshot: Snapshot, actions: tuple[Action, ...]) -> None:
        """No order beyond what the snapshot showed free plus what the decision's cancels free."""
        base, quote = snapshot.free_base, snapshot.free_quote
        shown = {order.tag: order for order in snapshot.open_orders}
        placed: dict[str, PlaceOrder] = {}
        for action in actions:
            if isinstance(action, CancelOrder) and action.tag in placed:
                withdrawn = placed.pop(action.tag)  # placed and withdrawn in one decision
                if withdrawn.side is Side.SELL:
                    base += withdrawn.amount
                else:
                    quote += withdrawn.amount * (withdrawn.price or snapshot.price)
            elif isinstance(action, CancelOrder) and action.tag in shown:
                order = shown.pop(action.tag)
                if order.side is Side.SELL:
                    base += order.remaining
                elif order.price is not None:
                    quote += order.remaining * order.price
            elif isinstance(action, PlaceOrder):
                placed[action.tag] = action
                if action.side is Side.SELL:
                    base -= action.amount
                    if base < 0:
                        raise Oversized(f"{action} with {base + action.amount} base free")
                else:
                    cost = action.amount * (action.price or snapshot.price)
                    quote -= cost
                    if quote < 0:
                        raise Oversized(f"{action} with {quote + cost} quote free")

    def apply(self, actions: tuple[Action, ...], price: Decimal) -> None:
        """Cancels land at once unless ``hold_cancels``; a place the account cannot fund is
        refused (its tag goes to ``refused``)."""
        for action in actions:
            if isinstance(action, CancelOrder):
                self.cancel(action.tag)
            elif isinstance(action, PlaceOrder):
                self.place(action, price)
            elif isinstance(action, StopBot):
                self.stopped = action

    def place(self, action: PlaceOrder, reference: Decimal) -> bool:
        live = self.orders.get(action.tag)
        assert live is None, f"tag {action.tag} placed while still live"
        order = Order(action.tag, action.side, action.type, action.price, action.amount, reference)
        if action.amount <= 0:
            self.refused.append(action.tag)
            return False
        if order.side is Side.SELL:
            if order.amount > self.free_base:
                self.refused.append(action.tag)
                return False
            order.locked = order.amount
            self.free_base -= order.amount
        else:
            price = order.price if order.price is not None else reference
            needed = order.amount * price * (1 + self.fee)
            if needed > self.free_quote:
                self.refused.append(action.tag)
                return False
            if order.type is OrderType.MARKET:
                needed = min(self.free_quote, needed * MARKET_MARGIN)
            order.locked = needed
            self.free_quote -= needed
        self.orders[order.tag] = order
        return True

    def cancel(self, tag: str) -> None:
        """The order leaves the book (a cancel landing, a rejection, an expiry): funds freed."""
        order = self.orders.pop(tag, None)
        if order is None:
            return
        if order.side is Side.SELL:
            self.free_base += order.locked
        else:
            self.free_quote += order.locked

    # --- the market ---------------------------------------------------------------------------
    def fill(self, tag: str, amount: Decimal, ts: datetime) -> StrategyFill | None:
        """Trade ``amount`` (at most what remains) of a live order at its price (a market order
        at its reference price). The fill is queued for the strategy's next decision."""
        order = self.orders[tag]
        step = self.market.amount_step
        amount = min(amount, order.remaining)
        amount = (amount / step).to_integral_value() * step
        if amount <= 0:
            return None
        price = order.price if order.price is not None else order.reference
        notional = price * amount
        fee = notional * self.fee
        fee_quote, fee_base = fee, ZERO
        if order.side is Side.BUY:
            if self.fee_in_base:
                fee_quote, fee_base = ZERO, amount * self.fee
            cost = notional + fee_quote
            share = order.locked * amount / order.remaining
            if order.type is OrderType.MARKET and order.filled + amount == order.amount:
                share = order.locked
            if cost > share + self.free_quote:
                return None  # a gap the lock could not cover: not traded (never in this model)
            order.locked -= share
            self.free_quote += share - cost
            self.free_base += amount - fee_base
        else:
            order.locked -= amount
            self.free_quote += notional - fee_quote
        order.filled += amount
        complete = order.filled == order.amount
        if complete:
            if order.side is Side.BUY:
                self.free_quote += order.locked  # the rounding left in a buy's lock
            del self.orders[tag]
        fill = StrategyFill(tag, order.side, price, amount, fee_quote, fee_base, ts, complete)
        self.unseen.append(fill)
        return fill

    def reaches(self, tag: str, low: Decimal, high: Decimal) -> bool:
        order = self.orders[tag]
        if order.price is None:
            return True
        return low <= order.price if order.side is Side.BUY else high >= order.price
