"""DCA strategy: a base order, then safety orders further and further below, and a take profit
that follows the average entry. 3Commas' vocabulary and formulas (see ``dca_config``).

A deal opens with a market base order; up to ``active_safety_orders_count`` safety orders rest
below; each safety fill moves the average entry, so the take-profit order is re-placed; the deal
closes on take profit (or trailing take profit, or stop loss), then the bot waits the cooldown and
opens the next deal. Counter-actions happen when an order completes; partial fills accumulate.

With an indicator start condition (``dca_start``) an idle bot past its cooldown opens a deal only
at a closed candle where the rule's entry signal fires; the strategy then asks for candles, and
the backtest engine skips to those candles. Without one it never asks for candles at all.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    CandleWindow,
    Decision,
    PlaceOrder,
    RestingOrder,
    Snapshot,
    StopBot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.dca_config import (
    HUNDRED,
    DcaConfig,
    TakeProfitType,
    max_deal_funds,
    safety_order_price,
    safety_order_volume,
)
from autogrid.trading.strategies.dca_state import KEPT_DEALS, DcaState, DealRecord
from autogrid.trading.strategies.grid_config import round_amount, round_price
from autogrid.trading.strategies.grid_state import Partial

ZERO = Decimal(0)
_NOTHING_FILLED = Partial()  # frozen: one shared empty start for every order
_STATE_VALUES = attrgetter(*(item.name for item in fields(DcaState)))


@dataclass(slots=True)
class _Funds:
    """What one decision may still commit: the free balances, plus what its own cancels free,
    less what its orders take. No order is sized beyond it, so the account never refuses one
    for want of funds (which a backtest would only notice at the next decision)."""

    base: Decimal
    quote: Decimal


def _working_copy(state: DcaState) -> DcaState:
    """``state.copy()``, built positionally: ``dataclasses.replace`` costs more than a whole
    quiet ``decide`` in a backtest."""
    work = DcaState(*_STATE_VALUES(state))
    work.partials = dict(state.partials)
    return work


@dataclass(frozen=True, slots=True)
class DcaStrategy:
    config: DcaConfig
    market: MarketRules
    name: str = "dca"

    def __post_init__(self) -> None:
        self.config.validate()

    @property
    def max_funds(self) -> Decimal:
        return max_deal_funds(self.config)

    # --- contract ------------------------------------------------------------------------------
    def candles_needed(self) -> int:
        start = self.config.start_condition
        return 0 if start is None else start.candles_needed()

    def indicators(self, candles: CandleWindow) -> dict[str, NDArray[np.float64]]:
        start = self.config.start_condition
        return {} if start is None else start.series(candles)

    def series_key(self) -> Hashable:
        """Equal keys, equal ``indicators`` over the same candles (shared across a sweep)."""
        start = self.config.start_condition
        return () if start is None else start.rule.series_key()

    def signal_mask(self, series: Mapping[str, NDArray[np.float64]]) -> NDArray[np.bool_] | None:
        """Candles where the start condition may signal (None: it starts at once, no signals)."""
        start = self.config.start_condition
        return None if start is None else start.rule.mask(series)

    def signal_masks_by_phase(
        self, series: Mapping[str, NDArray[np.float64]]
    ) -> dict[str, NDArray[np.bool_]]:
        """Only an idle bot acts on a signal, and only on an entry (see ``signal_phase``)."""
        assert self.config.start_condition is not None  # the engine asks after signal_mask
        entries = self.config.start_condition.entries(series)
        return {"idle": entries, "busy": np.zeros_like(entries)}

    def signal_phase(self, state: DcaState) -> str:
        return "idle" if state.phase == "idle" else "busy"

    def initial_state(self, snapshot: Snapshot) -> DcaState:
        return DcaState()

    def dump_state(self, state: DcaState) -> dict[str, Any]:
        return state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> DcaState:
        return DcaState.from_dict(data)

    def restart_state(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """What a fresh start keeps of the last run (optional strategy hook, see runtime.tick):
        the deal history and its numbering, so deal numbers (and order tags) are never reused."""
        old = DcaState.from_dict(data)
        kept = DcaState(
            deal=old.deal,
            deals=old.deals,
            realized_pnl=old.realized_pnl,
            fees_quote=old.fees_quote,
        )
        return kept.to_dict()

    def decide(
        self, snapshot: Snapshot, state: DcaState, fills: Sequence[StrategyFill]
    ) -> Decision[DcaState]:
        if state.phase == "stopped":
            return Decision((), state)
        work = _working_copy(state)
        actions: list[Action] = []
        # First the account as the fills left it, in whatever order they came (a take profit
        # and a safety order may fill in one candle or tick); then what the deal needs now.
        resting = {order.tag: order for order in snapshot.open_orders}
        done = self._count_fills(work, fills, resting)
        if done:
            self._finish(snapshot, work, done, actions)
        if work.phase == "in_deal":
            reason = self._exit_due(snapshot, work)
            if reason is not None:
                funds = _Funds(snapshot.free_base, snapshot.free_quote)
                self._exit_at_market(work, reason, resting, funds, actions)
                self._keep_exit(snapshot, work, resting, funds, actions)
            # Orders change only with fills and orders gone; a missing take profit is re-placed.
            elif fills or done or (work.tp_live is None and not self.config.trailing_take_profit):
                funds = _Funds(snapshot.free_base, snapshot.free_quote)
                self._keep_deal_orders(snapshot, work, resting, funds, actions)
        elif work.phase == "closing":
            funds = _Funds(snapshot.free_base, snapshot.free_quote)
            self._keep_exit(snapshot, work, resting, funds, actions)
        if work.phase == "idle" and self._may_open(snapshot, work):
            self._open_deal(
                snapshot, work, _Funds(snapshot.free_base, snapshot.free_quote), actions
            )
        return Decision(tuple(actions), work, self._wake(work, snapshot))

    # --- fills --------------------------------------------------------------------------------
    def _count_fills(
        self, work: DcaState, fills: Sequence[StrategyFill], resting: Mapping[str, RestingOrder]
    ) -> list[str]:
        """Count every fill of a deal's order; return the live orders now done (filled, or gone
        from the exchange: refused, cancelled, expired), in a stable order."""
        live = work.live
        if not fills:  # the common quiet call: only an order gone from the book changes anything
            return [] if live <= resting.keys() else sorted(live - resting.keys())
        completed: set[str] = set()
        for fill in fills:
            if not fill.tag.startswith("D"):
                continue  # not a deal's order (a scheduled buy of the same bot)
            # A late fill of an order the deal no longer tracks (cancelled as it filled, or a
            # previous deal's) still moved the account: it counts in the current position.
            work.count(fill)
            if fill.tag in live:
                work.partials[fill.tag] = work.partials.get(fill.tag, _NOTHING_FILLED).add(fill)
                if fill.order_complete:
                    completed.add(fill.tag)
        if not completed and live <= resting.keys():
            return []
        return sorted(tag for tag in live if tag in completed or tag not in resting)

    def _finish(
        self, snapshot: Snapshot, work: DcaState, done: list[str], actions: list[Action]
    ) -> None:
        """What the orders that are done mean for the deal's phase and counters."""
        work.live = work.live - set(done)
        base_order = self._tag(work, "BO")
        for tag in done:
            bought = work.partials.pop(tag, _NOTHING_FILLED)
            if tag == base_order:
                if work.phase == "opening" and bought.amount > 0:
                    work.base_price = bought.average_price
                    work.phase = "in_deal"
                elif work.phase == "opening":
                    work.phase = "idle"  # the base order was refused: try again when allowed
            elif tag == work.tp_live:
                work.tp_live = None
            elif ".SO" in tag and bought.amount > 0:
                work.safety_filled += 1
        if work.phase in {"in_deal", "closing"} and work.sold_amount > 0:
            # Sold, and what is left cannot be sold: the deal is over (the rest is dust).
            held = round_amount(max(work.net_base, ZERO), self.market.amount_step)
            limit = self.take_profit_price(work) if work.phase == "in_deal" else None
            if not self._sellable(held, limit or snapshot.price):
                reason = work.exit_reason or "take_profit"
                self._close_deal(snapshot, work, reason, actions)

    # --- deal steps ---------------------------------------------------------------------------
    def _tag(self, work: DcaState, suffix: str) -> str:
        return f"D{work.deal}.{suffix}"

    def _sellable(self, amount: Decimal, price: Decimal) -> bool:
        market = self.market
        return amount > 0 and amount >= market.min_amount and amount * price >= market.min_cost

    def _may_open(self, snapshot: Snapshot, work: DcaState) -> bool:
        if work.next_start_at is not None and snapshot.now < work.next_start_at:
            return False  # cooling down
        start = self.config.start_condition
        return start is None or start.fires(snapshot, work.next_start_at)

    def _open_deal(
        self, snapshot: Snapshot, work: DcaState, funds: _Funds, actions: list[Action]
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
        work.deal += 1
        work.phase = "opening"
        work.opened_at = snapshot.now
        tag = self._tag(work, "BO")
        actions.append(PlaceOrder(tag, Side.BUY, OrderType.MARKET, amount))
        funds.quote -= amount * snapshot.price
        work.live = work.live | {tag}

    def _keep_deal_orders(
        self,
        snapshot: Snapshot,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: _Funds,
        actions: list[Action],
    ) -> None:
        """The safety orders due, and a take profit for exactly the base held."""
        self._place_safety_orders(work, funds, actions)
        if self.config.trailing_take_profit:
            return  # no resting take profit: ``_watch_exits`` sells at market
        price = self.take_profit_price(work)
        held = round_amount(max(work.net_base, ZERO), self.market.amount_step)
        live = resting.get(work.tp_live) if work.tp_live is not None else None
        if live is not None and live.remaining == held and live.price == price:
            return
        if live is not None:
            self._cancel(live.tag, work, resting, funds, actions)
        work.tp_live = None
        amount = min(held, round_amount(funds.base, self.market.amount_step))
        if price is None or not self._sellable(amount, price):
            return
        work.tp_version += 1
        tag = self._tag(work, f"TP{work.tp_version}")
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.LIMIT, amount, price))
        funds.base -= amount
        work.tp_live = tag
        work.live = work.live | {tag}

    def _place_safety_orders(self, work: DcaState, funds: _Funds, actions: list[Action]) -> None:
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
            tag = self._tag(work, f"SO{n}")
            actions.append(PlaceOrder(tag, Side.BUY, OrderType.LIMIT, amount, price))
            funds.quote -= amount * price
            work.live = work.live | {tag}

    def _cancel(
        self,
        tag: str,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: _Funds,
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

    def _exit_due(self, snapshot: Snapshot, work: DcaState) -> str | None:
        """Why the deal must sell at market now (stop loss, trailing reversal), if it must; moves
        the trailing peak."""
        price = snapshot.price
        stop = self.stop_loss_price(work)
        if stop is not None and price <= stop:
            return "stop_loss"
        if not self.config.trailing_take_profit:
            return None
        target = self.take_profit_price(work)
        if not work.trailing_active and target is not None and price >= target:
            work.trailing_active = True
            work.peak = price
        if work.trailing_active and work.peak is not None:
            work.peak = max(work.peak, price)
            if price <= work.peak * (1 - self.config.trailing_deviation / HUNDRED):
                return "trailing_take_profit"
        return None

    def _exit_at_market(
        self,
        work: DcaState,
        reason: str,
        resting: Mapping[str, RestingOrder],
        funds: _Funds,
        actions: list[Action],
    ) -> None:
        for tag in sorted(work.live):
            self._cancel(tag, work, resting, funds, actions)
        work.tp_live = None
        work.exit_reason = reason
        work.phase = "closing"

    def _keep_exit(
        self,
        snapshot: Snapshot,
        work: DcaState,
        resting: Mapping[str, RestingOrder],
        funds: _Funds,
        actions: list[Action],
    ) -> None:
        """A deal being closed sells what it holds at market, again if a sale fell short (a
        refused or partial exit, a safety order that filled as it was cancelled)."""
        if any(".EXIT" in tag for tag in work.live):
            return  # the exit in flight: its fills are counted as they come
        step = self.market.amount_step
        held = round_amount(max(work.net_base, ZERO), step)
        amount = min(held, round_amount(funds.base, step))
        if not self._sellable(amount, snapshot.price):
            self._close_deal(snapshot, work, work.exit_reason or "stopped", actions)
            return
        work.exit_version += 1
        suffix = "EXIT" if work.exit_version == 1 else f"EXIT{work.exit_version}"
        tag = self._tag(work, suffix)
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.MARKET, amount))
        funds.base -= amount
        work.live = work.live | {tag}

    def _close_deal(
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
        work.safety_filled = work.safety_placed = work.exit_version = 0
        work.partials = {}

    def _wake(self, work: DcaState, snapshot: Snapshot) -> Wake:
        if work.phase == "idle":
            if self.config.start_condition is None:
                return Wake(at=work.next_start_at, every_candle=work.next_start_at is None)
            # Past the cooldown only a signal can open a deal, and signal candles wake the bot
            # by themselves (the engine's signal masks; live, a strategy reading candles decides
            # at every tick): waking at a past time would call it on every candle for nothing.
            cooling = work.next_start_at is not None and snapshot.now < work.next_start_at
            return Wake(at=work.next_start_at) if cooling else Wake()
        if work.phase != "in_deal":
            return Wake()
        below = self.stop_loss_price(work)
        above = None
        if self.config.trailing_take_profit:
            if work.trailing_active and work.peak is not None:
                retreat = work.peak * (1 - self.config.trailing_deviation / HUNDRED)
                below = retreat if below is None else max(below, retreat)
                above = work.peak
            else:
                above = self.take_profit_price(work)
        return Wake(price_at_or_below=below, price_at_or_above=above)
