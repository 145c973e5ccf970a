"""DCA strategy: a base order, then safety orders further and further below, and a take profit
that follows the average entry. 3Commas' vocabulary and formulas (see ``dca_config``).

A deal opens with a market base order; up to ``active_safety_orders_count`` safety orders rest
below; each safety fill moves the average entry, so the take-profit order is re-placed; the deal
closes on take profit (or trailing take profit, or stop loss), then the bot waits the cooldown and
opens the next deal. A deal buying or selling at market (``opening``, ``closing``) asks to
decide at every price until that is done, so a market order refused before it reached the book
is placed again: at the next price, then less and less often while the refusals go on (a
refusal that holds would otherwise write a refused order and its event at every price; see
``refusals.retry_delay``). A take profit that leaves the book unfilled (rejected by the
exchange, a price filter say; cancelled by someone else) is placed again with the same back-off
(``tp_refusals``), at once when buys change it. Counter-actions happen when an order completes;
partial fills accumulate.

Signals may open a deal now or close the open one at market (``dca_commands``: handed in with
``enqueue``, each leaves an outcome the runtime takes out with ``take_outcomes``).

With an indicator start condition (``dca_start``) an idle bot past its cooldown opens a deal only
at a closed candle where the rule's entry signal fires; the strategy then asks for candles, and
the backtest engine skips to those candles. Without one it never asks for candles at all.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from operator import attrgetter
from typing import Any

import numpy as np
from numpy.typing import NDArray

from autogrid.exchanges.types import MarketRules, Side
from autogrid.trading.strategies import dca_commands
from autogrid.trading.strategies.base import (
    Action,
    CandleWindow,
    Decision,
    RestingOrder,
    Snapshot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.dca_config import (
    HUNDRED,
    DcaConfig,
    max_deal_funds,
)
from autogrid.trading.strategies.dca_deal_orders import DealFunds, DealOrders
from autogrid.trading.strategies.dca_state import DcaState
from autogrid.trading.strategies.grid_config import round_amount
from autogrid.trading.strategies.grid_state import Partial
from autogrid.trading.strategies.signal_bot_state import SignalOutcome, TimedSignal

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
    _orders: DealOrders = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.config.validate()
        object.__setattr__(self, "_orders", DealOrders(self.config, self.market))

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

    @staticmethod
    def enqueue(state: DcaState, signals: Sequence[TimedSignal]) -> DcaState:
        """The state with deal commands (start_deal, close_deal) for the next decision."""
        return replace(state, commands=(*state.commands, *signals))

    @staticmethod
    def take_outcomes(state: DcaState) -> tuple[tuple[SignalOutcome, ...], DcaState]:
        return state.outcomes, replace(state, outcomes=())

    def decide(
        self, snapshot: Snapshot, state: DcaState, fills: Sequence[StrategyFill]
    ) -> Decision[DcaState]:
        if state.phase == "stopped":
            if not state.commands:
                return Decision((), state)
            # It decides nothing more: a command waiting for it would wait until it went stale.
            work = _working_copy(state)
            dca_commands.refuse_all(work, snapshot, dca_commands.DEALS_STOPPED)
            return Decision((), work)
        work = _working_copy(state)
        actions: list[Action] = []
        # First the account as the fills left it, in whatever order they came (a take profit
        # and a safety order may fill in one candle or tick); then what the deal needs now.
        resting = {order.tag: order for order in snapshot.open_orders}
        done = self._count_fills(work, fills, resting)
        if work.tp_refusals and work.tp_live in resting:  # seen resting: it reached the book
            self._orders.take_profit_left(work, snapshot.now, filled=True)
        if done:
            self._finish(snapshot, work, done, actions)
        if work.phase == "in_deal":
            reason = self._exit_due(snapshot, work)
            if reason is not None:
                funds = DealFunds(snapshot.free_base, snapshot.free_quote)
                self._orders.exit_at_market(work, reason, resting, funds, actions)
                self._orders.keep_exit(snapshot, work, resting, funds, actions)
            # Orders change only with fills and orders gone; a missing take profit is re-placed.
            elif fills or done or (work.tp_live is None and not self.config.trailing_take_profit):
                funds = DealFunds(snapshot.free_base, snapshot.free_quote)
                bought = any(fill.side is Side.BUY for fill in fills)
                self._orders.keep_deal_orders(snapshot, work, resting, funds, actions, bought)
        elif work.phase == "closing":
            funds = DealFunds(snapshot.free_base, snapshot.free_quote)
            self._orders.keep_exit(snapshot, work, resting, funds, actions)
        if work.commands:
            dca_commands.carry_out(self._orders, snapshot, work, resting, actions)
        if work.phase == "idle" and self._may_open(snapshot, work):
            self._orders.open_deal(
                snapshot, work, DealFunds(snapshot.free_base, snapshot.free_quote), actions
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
        base_order = self._orders.tag(work, "BO")
        for tag in done:
            bought = work.partials.pop(tag, _NOTHING_FILLED)
            if tag == base_order:
                if work.phase == "opening" and bought.amount > 0:
                    work.base_price = bought.average_price
                    work.phase = "in_deal"
                    self._orders.reached_book(work)
                elif work.phase == "opening":
                    work.phase = "idle"  # the base order was refused: try again when allowed
                    self._orders.refused(work, snapshot.now)
            elif tag == work.tp_live:
                work.tp_live = None
                self._orders.take_profit_left(work, snapshot.now, filled=bought.amount > 0)
            elif ".SO" in tag and bought.amount > 0:
                work.safety_filled += 1
            elif ".EXIT" in tag:
                if bought.amount > 0:
                    self._orders.reached_book(work)
                else:  # refused: sold again by ``keep_exit`` once the back-off is over
                    self._orders.refused(work, snapshot.now)
        if work.phase in {"in_deal", "closing"} and work.sold_amount > 0:
            # Sold, and what is left cannot be sold: the deal is over (the rest is dust).
            held = round_amount(max(work.net_base, ZERO), self.market.amount_step)
            limit = self._orders.take_profit_price(work) if work.phase == "in_deal" else None
            if not self._orders.sellable(held, limit or snapshot.price):
                reason = work.exit_reason or "take_profit"
                self._orders.close_deal(snapshot, work, reason, actions)

    # --- deal steps ---------------------------------------------------------------------------
    def _may_open(self, snapshot: Snapshot, work: DcaState) -> bool:
        if work.next_start_at is not None and snapshot.now < work.next_start_at:
            return False  # cooling down
        if self._orders.backing_off(work, snapshot.now):
            return False  # its last base order was refused: placed again at ``retry_at``
        start = self.config.start_condition
        return start is None or start.fires(snapshot, work.next_start_at)

    def _exit_due(self, snapshot: Snapshot, work: DcaState) -> str | None:
        """Why the deal must sell at market now (stop loss, trailing reversal), if it must; moves
        the trailing peak."""
        price = snapshot.price
        stop = self._orders.stop_loss_price(work)
        if stop is not None and price <= stop:
            return "stop_loss"
        if not self.config.trailing_take_profit:
            return None
        target = self._orders.take_profit_price(work)
        if not work.trailing_active and target is not None and price >= target:
            work.trailing_active = True
            work.peak = price
        if work.trailing_active and work.peak is not None:
            work.peak = max(work.peak, price)
            if price <= work.peak * (1 - self.config.trailing_deviation / HUNDRED):
                return "trailing_take_profit"
        return None

    def _wake(self, work: DcaState, snapshot: Snapshot) -> Wake:
        if work.phase == "idle":
            # Not before the cooldown's end, nor before a refused base order may go again.
            waits = [at for at in (work.next_start_at, work.retry_at) if at is not None]
            not_before = max(waits) if waits else None
            if self.config.start_condition is None:
                return Wake(at=not_before, every_candle=not_before is None)
            # Past the cooldown only a signal can open a deal, and signal candles wake the bot
            # by themselves (the engine's signal masks; live, a strategy reading candles decides
            # at every tick): waking at a past time would call it on every candle for nothing.
            cooling = not_before is not None and snapshot.now < not_before
            return Wake(at=not_before) if cooling else Wake()
        if work.phase == "closing" and self._orders.backing_off(work, snapshot.now):
            # Its sale was refused and nothing of it is in flight: nothing to do until then.
            return Wake(at=work.retry_at)
        if work.phase in {"opening", "closing"}:
            # Called at every price while a market order is due: one refused before it reached
            # the book (pre-trade risk, the exchange) leaves no fill and no live order to notice,
            # and only a decision places it again (``keep_exit`` sells again; a base order
            # refused leaves the bot idle, to open when allowed), as the smart trade does.
            return Wake(every_candle=True)
        if work.phase != "in_deal":
            return Wake()
        below = self._orders.stop_loss_price(work)
        retry = None
        if work.tp_live is None and self._orders.take_profit_waiting(work, snapshot.now):
            retry = work.tp_retry_at  # its take profit left the book unfilled: placed again then
        above = None
        if self.config.trailing_take_profit:
            if work.trailing_active and work.peak is not None:
                retreat = work.peak * (1 - self.config.trailing_deviation / HUNDRED)
                below = retreat if below is None else max(below, retreat)
                above = work.peak
            else:
                above = self._orders.take_profit_price(work)
        return Wake(price_at_or_below=below, price_at_or_above=above, at=retry)
