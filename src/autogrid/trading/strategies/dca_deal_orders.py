"""The orders of one DCA deal: the base order, the safety orders, the take profit, the exit at
market and the deal's closing record (pure: what to place or cancel, never an exchange call).

``DcaStrategy`` (dca.py) decides when; ``DealOrders`` knows how much, at what price, under which
tag, within what one decision may still commit (``DealFunds``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
)
from autogrid.trading.strategies.dca_config import (
    HUNDRED,
    DcaConfig,
    TakeProfitType,
    safety_order_price,
    safety_order_volume,
)
from autogrid.trading.strategies.dca_state import KEPT_DEALS, DcaState, DealRecord
from autogrid.trading.strategies.grid_config import round_amount, round_price
from autogrid.trading.strategies.refusals import Backoff
from autogrid.trading.strategies.trade_parts import below_minimums

ZERO = Decimal(0)


@dataclass(slots=True)
class DealFunds:
    """What one decision may still commit: the free balances, plus what its own cancels free,
    less what its orders take. No order is sized beyond it, so the account never refuses one
    for want of funds (which a backtest would only notice at the next decision)."""

    base: Decimal
    quote: Decimal


@dataclass(frozen=True, slots=True)
class DealOrders:
    config: DcaConfig
    market: MarketRules

    def tag(self, work: DcaState, suffix: str) -> str:
        return f"D{work.deal}.{suffix}"

    def sellable(self, amount: Decimal, price: Decimal) -> bool:
        return below_minimums(amount, price, self.market) is None

    def refused(self, work: DcaState, now: datetime) -> None:
        """A market order of the deal left without a fill (refused before the book): back off
        (``refusals.Backoff``, the rule every strategy's refused market orders follow)."""
        backoff = Backoff(work.refusals, work.retry_at).refused(now)
        work.refusals, work.retry_at = backoff.refusals, backoff.retry_at

    def reached_book(self, work: DcaState) -> None:
        """A market order of the deal filled: the refusals, if any, are over."""
        work.refusals, work.retry_at = 0, None

    def backing_off(self, work: DcaState, now: datetime) -> bool:
        """Whether a refused market order must not be placed again yet."""
        return Backoff(work.refusals, work.retry_at).waiting(now)

    def take_profit_left(self, work: DcaState, now: datetime, filled: bool) -> None:
        """The take profit is done: its fills took it (reached the book: any back-off is over)
        or it left the book without one (rejected, cancelled by someone else: back off)."""
        backoff = Backoff() if filled else Backoff(work.tp_refusals, work.tp_retry_at).refused(now)
        work.tp_refusals, work.tp_retry_at = backoff.refusals, backoff.retry_at

    def take_profit_waiting(self, work: DcaState, now: datetime) -> bool:
        """Whether a take profit that left the book unfilled must not be placed again yet."""
        return Backoff(work.tp_refusals, work.tp_retry_at).waiting(now)

    def open_deal(
        self, snapshot: Snapshot, work: DcaState, funds: DealFunds, actions: list[Action]
    ) -> None:
        amount = round_amount(
            self.config.base_order_volume / snapshot.price, self.market.amount_step
        )
        if amount < self.market.min_amount or amount <= 0:
            actions.append(StopBot("base order is below the market minimum", cancel_orders=True))
            work.phase = "stopped"
            return
        if amount * snapshot.price > funds.quote:
            return  # not enough quote (yet): an idle bot tries again at its next decision
        if not work.refusals:
            # A new deal. Refusals left while idle are the base order's (a deal's close clears
            # them): its deal never opened and is tried again under its number; refused for as
            # long as an account limit held, each attempt took a new one and journaled another
            # "deal opened".
            work.deal += 1
        work.phase = "opening"
        work.opened_at = snapshot.now
        tag = self.tag(work, "BO")
        attempt = work.refusals + 1
        actions.append(PlaceOrder(tag, Side.BUY, OrderType.MARKET, amount, attempt=attempt))
        funds.quote -= amount * snapshot.price
        work.live = work.live | {tag}

    def keep_deal_orders(
        self,
        snapshot: Snapshot,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: DealFunds,
        actions: list[Action],
        bought: bool = False,
    ) -> None:
        """The safety orders due, and a take profit for exactly the base held (``bought``:
        this decision saw buys fill, so the take profit goes now even if backing off)."""
        self.place_safety_orders(work, funds, actions)
        if self.config.trailing_take_profit:
            return  # no resting take profit: ``_watch_exits`` sells at market
        if work.tp_live is None and not bought and self.take_profit_waiting(work, snapshot.now):
            return  # it left the book unfilled: placed again at ``tp_retry_at``
        price = self.take_profit_price(work)
        held = round_amount(max(work.net_base, ZERO), self.market.amount_step)
        live = resting.get(work.tp_live) if work.tp_live is not None else None
        if live is not None and live.remaining == held and live.price == price:
            return
        if live is not None:
            self.cancel(live.tag, work, resting, funds, actions)
        work.tp_live = None
        amount = min(held, round_amount(funds.base, self.market.amount_step))
        if price is None or not self.sellable(amount, price):
            return
        work.tp_version += 1
        tag = self.tag(work, f"TP{work.tp_version}")
        attempt = work.tp_refusals + 1
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.LIMIT, amount, price, None, attempt))
        funds.base -= amount
        work.tp_live = tag
        work.live = work.live | {tag}

    def place_safety_orders(self, work: DcaState, funds: DealFunds, actions: list[Action]) -> None:
        if work.base_price is None:
            return
        wanted = min(
            self.config.max_safety_orders,
            work.safety_filled + self.config.active_safety_orders_count,
        )
        while work.safety_placed < wanted:
            n = work.safety_placed + 1
            price = round_price(
                safety_order_price(self.config, work.base_price, n), self.market.price_tick
            )
            work.safety_placed = n
            if price <= 0:
                continue
            amount = round_amount(
                safety_order_volume(self.config, n) / price, self.market.amount_step
            )
            if amount < self.market.min_amount or amount <= 0:
                continue
            if amount * price > funds.quote:
                continue  # what the account would refuse: the deal goes on without it
            tag = self.tag(work, f"SO{n}")
            actions.append(PlaceOrder(tag, Side.BUY, OrderType.LIMIT, amount, price))
            funds.quote -= amount * price
            work.live = work.live | {tag}

    def cancel(
        self,
        tag: str,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: DealFunds,
        actions: list[Action],
    ) -> None:
        """Cancel a live order; what it held counts as free for the orders placed after it."""
        actions.append(CancelOrder(tag))
        work.live = work.live - {tag}
        order = resting.get(tag)
        if order is None:
            return
        if order.side is Side.SELL:
            funds.base += order.remaining
        elif order.price is not None:
            funds.quote += order.remaining * order.price

    def take_profit_price(self, work: DcaState) -> Decimal | None:
        reference = (
            work.base_price
            if self.config.take_profit_type is TakeProfitType.BASE
            else work.entry_price
        )
        if reference is None:
            return None
        return round_price(
            reference * (1 + self.config.take_profit / HUNDRED), self.market.price_tick
        )

    def stop_loss_price(self, work: DcaState) -> Decimal | None:
        entry = work.entry_price
        if self.config.stop_loss_percentage is None or entry is None:
            return None
        return entry * (1 - self.config.stop_loss_percentage / HUNDRED)

    def exit_at_market(
        self,
        work: DcaState,
        reason: str,
        resting: Mapping[str, RestingOrder],
        funds: DealFunds,
        actions: list[Action],
    ) -> None:
        for tag in sorted(work.live):
            self.cancel(tag, work, resting, funds, actions)
        work.tp_live = None
        work.exit_reason = reason
        work.phase = "closing"

    def keep_exit(
        self,
        snapshot: Snapshot,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: DealFunds,
        actions: list[Action],
    ) -> None:
        """A deal being closed sells what it holds at market, again if a sale fell short (a
        refused or partial exit, a safety order that filled as it was cancelled)."""
        if any(".EXIT" in tag for tag in work.live):
            return  # the exit in flight: its fills are counted as they come
        if self.backing_off(work, snapshot.now):
            return  # its last sale was refused: placed again at ``retry_at``
        step = self.market.amount_step
        held = round_amount(max(work.net_base, ZERO), step)
        amount = min(held, round_amount(funds.base, step))
        if not self.sellable(amount, snapshot.price):
            if self.sellable(held, snapshot.price) and self._cancelling(work, resting):
                # What is held is still locked in an order the exit cancelled (its cancel not
                # landed yet): sell it once it is free, rather than end the deal holding it.
                return
            self.close_deal(snapshot, work, work.exit_reason or "stopped", actions)
            return
        work.exit_version += 1
        suffix = "EXIT" if work.exit_version == 1 else f"EXIT{work.exit_version}"
        tag = self.tag(work, suffix)
        attempt = work.refusals + 1
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.MARKET, amount, attempt=attempt))
        funds.base -= amount
        work.live = work.live | {tag}

    def _cancelling(self, work: DcaState, resting: Mapping[str, RestingOrder]) -> bool:
        """Whether an order of this deal it no longer tracks (cancelled) is still on the book."""
        prefix = self.tag(work, "")
        return any(tag.startswith(prefix) and tag not in work.live for tag in resting)

    def close_deal(
        self, snapshot: Snapshot, work: DcaState, reason: str, actions: list[Action]
    ) -> None:
        for tag in sorted(work.live):
            actions.append(CancelOrder(tag))
        record = DealRecord(
            number=work.deal,
            opened_at=work.opened_at or snapshot.now,
            closed_at=snapshot.now,
            close_reason=reason,
            base_price=work.base_price or ZERO,
            average_entry=work.average_entry or ZERO,
            amount=work.bought_amount,
            cost=work.deal_cost,
            proceeds=work.deal_proceeds,
            safety_orders_filled=work.safety_filled,
        )
        work.realized_pnl += record.profit
        work.deals = (*work.deals, record)[-KEPT_DEALS:]
        work.next_start_at = snapshot.now + timedelta(seconds=self.config.cooldown_seconds)
        # Dust left by rounding stays in the account; the next deal starts from zero.
        work.phase, work.live, work.tp_live, work.exit_reason = "idle", frozenset(), None, None
        work.base_price, work.opened_at, work.peak, work.trailing_active = None, None, None, False
        work.bought_amount = work.bought_notional = work.net_base = ZERO
        work.deal_cost = work.deal_proceeds = work.sold_amount = work.sold_basis = ZERO
        work.safety_filled = work.safety_placed = work.exit_version = work.refusals = 0
        work.tp_refusals, work.retry_at, work.tp_retry_at = 0, None, None
        work.partials = {}
