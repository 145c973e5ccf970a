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

from collections.abc import Mapping, Sequence
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
        self._settle_vanished(snapshot, work, fills, actions)
        for fill in fills:
            if not fill.tag.startswith("D"):
                continue  # not a deal's order (a scheduled buy of the same bot)
            partial = work.partials.get(fill.tag, _NOTHING_FILLED).add(fill)
            work.partials[fill.tag] = partial
            if fill.order_complete:
                work.live = work.live - {fill.tag}
                self._settle(snapshot, work, fill.tag, actions)
        if work.phase == "in_deal":
            self._watch_exits(snapshot, work, actions)
        if work.phase == "idle" and self._may_open(snapshot, work):
            self._open_deal(snapshot, work, actions)
        return Decision(tuple(actions), work, self._wake(work, snapshot))

    # --- deal steps ---------------------------------------------------------------------------
    def _tag(self, work: DcaState, suffix: str) -> str:
        return f"D{work.deal}.{suffix}"

    def _may_open(self, snapshot: Snapshot, work: DcaState) -> bool:
        if work.next_start_at is not None and snapshot.now < work.next_start_at:
            return False  # cooling down
        start = self.config.start_condition
        return start is None or start.fires(snapshot, work.next_start_at)

    def _open_deal(self, snapshot: Snapshot, work: DcaState, actions: list[Action]) -> None:
        amount = round_amount(
            self.config.base_order_volume / snapshot.price, self.market.amount_step
        )
        if amount < self.market.min_amount or amount <= 0:
            actions.append(StopBot("base order is below the market minimum", cancel_orders=True))
            work.phase = "stopped"
            return
        work.deal += 1
        work.phase = "opening"
        work.opened_at = snapshot.now
        tag = self._tag(work, "BO")
        actions.append(PlaceOrder(tag, Side.BUY, OrderType.MARKET, amount))
        work.live = work.live | {tag}

    def _settle(self, snapshot: Snapshot, work: DcaState, tag: str, actions: list[Action]) -> None:
        done = work.partials.pop(tag)
        fee = done.fee_quote + done.fee_base * done.average_price
        work.fees_quote += fee
        kind = tag.split(".", 1)[1]
        if done.side is Side.BUY:
            work.bought_amount += done.amount
            work.bought_notional += done.quote
            work.net_base += done.net_base
            work.deal_cost += done.quote_spent
            if kind == "BO":
                work.base_price = done.average_price
                work.phase = "in_deal"
                self._place_safety_orders(work, actions)
            else:
                work.safety_filled += 1
                self._place_safety_orders(work, actions)
            if not self.config.trailing_take_profit and work.phase == "in_deal":
                self._replace_take_profit(work, actions)
            return
        work.net_base -= done.amount
        work.deal_proceeds += done.quote_received
        if kind.startswith("TP") and work.tp_live == tag:
            work.tp_live = None
        if work.net_base < self.market.min_amount or kind in {"EXIT"}:
            reason = work.exit_reason or "take_profit"
            self._close_deal(snapshot, work, reason, actions)

    def _place_safety_orders(self, work: DcaState, actions: list[Action]) -> None:
        assert work.base_price is not None
        wanted = min(
            self.config.max_safety_orders,
            work.safety_filled + self.config.active_safety_orders_count,
        )
        while work.safety_placed < wanted:
            n = work.safety_placed + 1
            price = round_price(
                safety_order_price(self.config, work.base_price, n), self.market.price_tick
            )
            amount = round_amount(
                safety_order_volume(self.config, n) / price, self.market.amount_step
            )
            work.safety_placed = n
            if price <= 0 or amount < self.market.min_amount or amount <= 0:
                continue
            tag = self._tag(work, f"SO{n}")
            actions.append(PlaceOrder(tag, Side.BUY, OrderType.LIMIT, amount, price))
            work.live = work.live | {tag}

    def take_profit_price(self, work: DcaState) -> Decimal | None:
        reference = (
            work.base_price
            if self.config.take_profit_type is TakeProfitType.BASE
            else work.average_entry
        )
        if reference is None:
            return None
        return round_price(
            reference * (1 + self.config.take_profit / HUNDRED), self.market.price_tick
        )

    def _replace_take_profit(self, work: DcaState, actions: list[Action]) -> None:
        if work.tp_live is not None:
            sold = work.partials.pop(work.tp_live, None)
            if sold is not None:  # the old take profit partly filled: that base is gone
                work.net_base -= sold.amount
                work.deal_proceeds += sold.quote_received
                work.fees_quote += sold.fee_quote
            actions.append(CancelOrder(work.tp_live))
            work.live = work.live - {work.tp_live}
            work.tp_live = None
        price = self.take_profit_price(work)
        amount = round_amount(work.net_base, self.market.amount_step)
        if price is None or amount < self.market.min_amount or amount <= 0:
            return
        work.tp_version += 1
        tag = self._tag(work, f"TP{work.tp_version}")
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.LIMIT, amount, price))
        work.tp_live = tag
        work.live = work.live | {tag}

    def stop_loss_price(self, work: DcaState) -> Decimal | None:
        average = work.average_entry
        if self.config.stop_loss_percentage is None or average is None:
            return None
        return average * (1 - self.config.stop_loss_percentage / HUNDRED)

    def _watch_exits(self, snapshot: Snapshot, work: DcaState, actions: list[Action]) -> None:
        price = snapshot.price
        stop = self.stop_loss_price(work)
        if stop is not None and price <= stop:
            self._exit_at_market(work, "stop_loss", actions)
            return
        if not self.config.trailing_take_profit:
            return
        target = self.take_profit_price(work)
        if not work.trailing_active and target is not None and price >= target:
            work.trailing_active = True
            work.peak = price
        if work.trailing_active and work.peak is not None:
            work.peak = max(work.peak, price)
            if price <= work.peak * (1 - self.config.trailing_deviation / HUNDRED):
                self._exit_at_market(work, "trailing_take_profit", actions)

    def _exit_at_market(self, work: DcaState, reason: str, actions: list[Action]) -> None:
        for tag in sorted(work.live):
            actions.append(CancelOrder(tag))
        work.live = frozenset()
        work.tp_live = None
        work.exit_reason = reason
        amount = round_amount(work.net_base, self.market.amount_step)
        work.phase = "closing"
        if amount <= 0:
            return
        tag = self._tag(work, "EXIT")
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.MARKET, amount))
        work.live = frozenset({tag})

    def _close_deal(
        self, snapshot: Snapshot, work: DcaState, reason: str, actions: list[Action]
    ) -> None:
        for tag in sorted(work.live):
            actions.append(CancelOrder(tag))
        assert work.opened_at is not None and work.base_price is not None
        record = DealRecord(
            number=work.deal,
            opened_at=work.opened_at,
            closed_at=snapshot.now,
            close_reason=reason,
            base_price=work.base_price,
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
        work.deal_cost = work.deal_proceeds = ZERO
        work.safety_filled = work.safety_placed = 0

    def _settle_vanished(
        self,
        snapshot: Snapshot,
        work: DcaState,
        fills: Sequence[StrategyFill],
        actions: list[Action],
    ) -> None:
        resting = {order.tag for order in snapshot.open_orders}
        reported = {fill.tag for fill in fills}
        vanished = sorted(tag for tag in work.live if tag not in resting and tag not in reported)
        for tag in vanished:
            work.live = work.live - {tag}
            if tag == work.tp_live:
                work.tp_live = None
            partial = work.partials.get(tag)
            if partial is not None and partial.amount > 0:
                self._settle(snapshot, work, tag, actions)
            elif tag.endswith(".BO") and work.phase == "opening":
                work.phase = "idle"  # the base order was refused: try again when allowed

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
