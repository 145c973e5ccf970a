"""The smart trade: one long spot position, its entry and its exits set in advance.

The first decision places the entry (``SmartTradeConfig``: market, a limit, or a zone of limit
buys). Each buy that fills re-places the take-profit steps not yet done, sized on what is held
(a step's share is of what was bought; the steps left share what the filled ones did not take),
so the take-profits never cover more than the position. A take-profit that leaves the book
without completing (rejected by the exchange, a price filter say; cancelled by someone else)
takes the others with it (cancelled), and the steps left are placed again together with the same
back-off as a refused close below (``targets_backoff``): an exchange that keeps rejecting them is
not sent them at every tick, and none is left out for good.

Exits other than the take-profits have no resting order (the exchange model has no stop
orders): each price the strategy sees is checked against them, and the first that holds closes
the trade: every order cancelled, what is held sold at market. In this order: the timeout, the
stop (``break_even`` once it was moved to the entry price after the first take-profit step
filled, else ``stop_loss``), the trailing stop. The wake condition asks to be called at the
stop, the trailing level, a new high, and the timeout; while closing, at every price.

A close refused before it reached the book (pre-trade risk: the owner's daily loss limit; the
exchange: insufficient balance) leaves no fill and no live order: it is placed again, never given
up, with the DCA's back-off (``refusals``): at the next price, then 1, 2, 4, 8 and at most 16
minutes apart while the refusals go on (each attempt a refused order; the owner is told of the
first, ``PlaceOrder.attempt``), asking to be woken at the retry time meanwhile. A fill of the
close ends the back-off. The owner's own close or cancel (the smart trade API) is a stop of the
bot, carried out by the runtime (``engine.stopping``: cancels, then its own sale at market) and
never by this strategy: it is not held back by the back-off. An owner who asks to close now
expects a sale now, not at the end of a 16-minute wait; if that sale is refused too, the stop
says why and the bot stays stopping until it is done.

When nothing is held and nothing rests any more the trade is over: the decision stops the bot
(``StopBot``) with the exit that closed it, once. An entry that cannot be placed (below the
market's minimums, more than the free quote, a stop already above the price) ends it at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal
from typing import Any

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.signals.model import AmountUnit
from autogrid.trading.strategies.base import (
    Action,
    Decision,
    PlaceOrder,
    PriceOnly,
    Snapshot,
    StopBot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.grid_config import round_amount, round_price
from autogrid.trading.strategies.refusals import Backoff, earliest, resting_outcome
from autogrid.trading.strategies.smart_trade_config import (
    HUNDRED,
    EntryKind,
    SmartTradeConfig,
)
from autogrid.trading.strategies.smart_trade_state import ZERO, Exit, SmartTradeState
from autogrid.trading.strategies.trade_parts import (
    Refused,
    below_minimums,
    cancel_resting,
    entry_orders,
    take_profit_orders,
    zone_prices,
)

CLOSER_PREFIX = "X"


@dataclass(slots=True)
class _Step:
    """One decision in progress: the actions so far and the balances they leave."""

    snapshot: Snapshot
    state: SmartTradeState
    free_quote: Decimal
    free_base: Decimal
    actions: list[Action]

    def place(
        self, prefix: str, side: Side, price: Decimal | None, amount: Decimal, attempt: int = 1
    ) -> str:
        seq = self.state.seq + 1
        tag = f"{prefix}{seq}"
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        stop = self.state.stop if side is Side.BUY else None
        self.actions.append(PlaceOrder(tag, side, kind, amount, price, stop, attempt))
        self.state = self.state.evolve(seq=seq)
        return tag

    def cancel(self, tags: Iterable[str]) -> None:
        freed_base, freed_quote = cancel_resting(self.snapshot, tags, self.actions)
        self.free_base += freed_base
        self.free_quote += freed_quote

    def sellable(self, step_size: Decimal) -> Decimal:
        """What may still be sold: held and not on a live sell (every sell cancelled first)."""
        held = min(self.state.holding.amount, self.free_base)
        return round_amount(max(ZERO, held), step_size)


@dataclass(frozen=True, slots=True)
class SmartTradeStrategy(PriceOnly):
    config: SmartTradeConfig
    market: MarketRules
    name: str = "smart_trade"

    def __post_init__(self) -> None:
        self.config.validate()

    # --- the contract ---------------------------------------------------------------------
    def initial_state(self, snapshot: Snapshot) -> SmartTradeState:
        return SmartTradeState()

    def dump_state(self, state: SmartTradeState) -> dict[str, Any]:
        return state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> SmartTradeState:
        return SmartTradeState.from_dict(data)

    def restart_state(self, old: Mapping[str, Any]) -> dict[str, Any]:
        """A start after a stop keeps the whole trade: it never enters a second time."""
        return dict(old)

    def decide(
        self, snapshot: Snapshot, state: SmartTradeState, fills: Sequence[StrategyFill]
    ) -> Decision[SmartTradeState]:
        if state.done:
            return Decision((), state)
        grew = False
        for fill in fills:
            state = self._fold(state, fill)
            grew = grew or fill.side is Side.BUY
        live = {order.tag for order in snapshot.open_orders}
        state = self._closer_outcome(state, fills, live, snapshot.now)
        targets_gone, targets_backoff = resting_outcome(
            state.targets_backoff, state.targets.keys(), fills, live, snapshot.now
        )
        state = state.evolve(targets_backoff=targets_backoff)
        state = state.evolve(
            entries=state.entries & live,
            targets={tag: i for tag, i in state.targets.items() if tag in live},
            closer=state.closer if state.closer in live else None,
        )
        step = _Step(snapshot, state, snapshot.free_quote, snapshot.free_base, [])
        if targets_gone:
            # Placed again all together once the back-off allows (``_place_targets`` would
            # cancel those left anyway): meanwhile the position keeps its stop and exits.
            step.cancel(list(state.targets))
            step.state = step.state.evolve(targets={})
        if state.started_at is None:
            step.state = state.evolve(started_at=snapshot.now, stop=self.config.stop_loss_price)
            try:
                self._enter(step)
            except Refused as refusal:
                step.state = step.state.evolve(exit=Exit.REFUSED, note=str(refusal))
        else:
            self._follow(step, grew)
        self._finish_if_over(step)
        return Decision(tuple(step.actions), step.state, self._wake(step.state, snapshot.now))

    # --- fills ----------------------------------------------------------------------------
    @staticmethod
    def _closer_outcome(
        state: SmartTradeState, fills: Sequence[StrategyFill], live: set[str], now: datetime
    ) -> SmartTradeState:
        """The close reached the book (a fill: the back-off is over) or left it without one
        (refused before the book: back off before selling again)."""
        closer = state.closer
        if closer is None:
            return state
        if any(fill.tag == closer for fill in fills):
            return state.backing_off(Backoff())
        if closer not in live:
            return state.backing_off(state.backoff.refused(now))
        return state

    def _fold(self, state: SmartTradeState, fill: StrategyFill) -> SmartTradeState:
        state = state.evolve(holding=state.holding.after(fill, self.market))
        if fill.side is Side.BUY:
            return state.evolve(
                bought=state.bought + fill.amount,
                spent=state.spent + fill.price * fill.amount + fill.fee_quote,
            )
        step = state.targets.get(fill.tag)
        if step is not None and fill.order_complete:
            state = state.evolve(steps_done=state.steps_done | {step})
        return state

    # --- the entry ------------------------------------------------------------------------
    def _enter(self, step: _Step) -> None:
        snapshot, config = step.snapshot, self.config
        entry = config.entry
        tick = self.market.price_tick
        prices: list[Decimal | None]
        if entry.kind is EntryKind.ZONE:
            assert entry.zone_low is not None and entry.zone_high is not None  # validated
            prices = list(zone_prices(entry.zone_low, entry.zone_high, entry.zone_orders, tick))
        elif entry.kind is EntryKind.LIMIT:
            assert entry.price is not None  # validated
            prices = [round_price(entry.price, tick)]
        else:
            prices = [None]
            self._check_exits_around(snapshot.price)
        amount = config.amount
        total = amount.value
        if amount.unit is AmountUnit.PERCENT:
            total = step.free_quote * amount.value / HUNDRED
        sized = entry_orders(
            prices,
            total,
            in_base=amount.unit is AmountUnit.BASE,
            price=snapshot.price,
            free_quote=step.free_quote,
            market=self.market,
        )
        if config.stop_loss_percent is not None:
            # The stop is measured from the entry price; until a buy fills, from the highest.
            top = max(snapshot.price if p is None else p for p, _ in sized.orders)
            step.state = step.state.evolve(stop=self._percent_stop(top))
        tags = [step.place("E", Side.BUY, price, size) for price, size in sized.orders]
        step.free_quote -= sized.cost
        step.state = step.state.evolve(entries=frozenset(tags))

    def _check_exits_around(self, price: Decimal) -> None:
        """A market entry's exits must be on the right side of the price it buys at."""
        stop = self.config.stop_loss_price
        if stop is not None and stop >= price:
            raise Refused(f"the stop loss {stop} is at or above the price {price}")
        for target in self.config.take_profits:
            if target.price <= price:
                raise Refused(f"the take-profit {target.price} is at or below the price {price}")

    # --- the trade ------------------------------------------------------------------------
    def _follow(self, step: _Step, grew: bool) -> None:
        state, price = step.state, step.snapshot.price
        if state.holding.amount > 0:
            state = state.evolve(high=price if state.high is None else max(state.high, price))
        if grew and self.config.stop_loss_percent is not None and not state.stop_moved:
            entry = state.entry_price
            if entry is not None:
                state = state.evolve(stop=self._percent_stop(entry))
        if self.config.break_even_after_first_tp and state.steps_done and not state.stop_moved:
            entry = state.entry_price or ZERO
            even = (entry / self.market.price_tick).to_integral_value(ROUND_UP)
            level = even * self.market.price_tick
            state = state.evolve(stop=max(state.stop or ZERO, level), stop_moved=True)
        step.state = state
        if state.exit is not None:  # closing: the market sell again if it left unfilled
            if state.closer is None and not state.backoff.waiting(step.snapshot.now):
                self._sell_all(step)
            return
        exit = self._exit_due(step)
        if exit is not None:
            step.cancel([*state.entries, *state.targets])
            # The entries stay followed until they leave the book: one may fill as its cancel
            # lands, and the trade sells that too before it ends (``_finish_if_over`` waits).
            step.state = step.state.evolve(targets={}, exit=exit)
            self._sell_all(step)
        elif self._targets_due(step.state, grew, step.snapshot.now):
            self._place_targets(step)

    def _targets_due(self, state: SmartTradeState, grew: bool, now: datetime) -> bool:
        """After a buy, or with none resting (a restart cancelled them, say; one left the book
        unfilled, once its back-off is over): the steps left."""
        if state.holding.amount <= 0 or not self.config.take_profits:
            return False
        return grew or (not state.targets and not state.targets_backoff.waiting(now))

    def _exit_due(self, step: _Step) -> Exit | None:
        state, snapshot = step.state, step.snapshot
        deadline = self._deadline(state)
        if deadline is not None and snapshot.now >= deadline:
            return Exit.TIMEOUT
        if state.holding.amount <= 0:
            return None
        if state.stop is not None and snapshot.price <= state.stop:
            return Exit.BREAK_EVEN if state.stop_moved else Exit.STOP_LOSS
        trail = self._trail_level(state)
        if trail is not None and snapshot.price <= trail:
            return Exit.TRAILING_STOP
        return None

    def _sell_all(self, step: _Step) -> None:
        held = step.sellable(self.market.amount_step)
        if held <= 0:
            return
        refusal = below_minimums(held, step.snapshot.price, self.market)
        if refusal is not None:
            step.state = step.state.evolve(note=f"{held} left unsold: {refusal}")
            return
        attempt = step.state.backoff.attempt
        tag = step.place(CLOSER_PREFIX, Side.SELL, None, held, attempt)
        step.free_base -= held
        step.state = step.state.evolve(closer=tag)

    def _place_targets(self, step: _Step) -> None:
        step.cancel(list(step.state.targets))
        held = step.sellable(self.market.amount_step)
        targets: dict[str, int] = {}
        steps, done = self.config.take_profits, step.state.steps_done
        attempt = step.state.targets_backoff.attempt
        for i, price, amount in take_profit_orders(steps, held, self.market, done):
            if amount is None:
                continue  # below the market's minimums: the rest of the position keeps it
            targets[step.place("T", Side.SELL, price, amount, attempt)] = i
            step.free_base -= amount
        step.state = step.state.evolve(targets=targets)

    def _finish_if_over(self, step: _Step) -> None:
        state = step.state
        if state.entries or state.targets or state.closer is not None:
            return
        if state.holding.amount > 0 and state.exit is None:
            return  # a position still protected by its stop, trailing stop or timeout
        if state.holding.amount > 0 and state.backoff.waiting(step.snapshot.now):
            return  # its close was refused: sold again at ``retry_at``
        exit = state.exit
        if exit is None:
            exit = Exit.TAKE_PROFIT if state.bought > 0 else Exit.ENTRY_NOT_FILLED
        step.state = state.evolve(exit=exit, done=True)
        reason = f"smart trade closed: {exit.value}" + (f" ({state.note})" if state.note else "")
        step.actions.append(StopBot(reason, cancel_orders=True, sell_base=False))

    # --- helpers --------------------------------------------------------------------------
    def _percent_stop(self, entry: Decimal) -> Decimal:
        assert self.config.stop_loss_percent is not None
        level = entry * (1 - self.config.stop_loss_percent / HUNDRED)
        return round_price(level, self.market.price_tick)

    def _deadline(self, state: SmartTradeState) -> datetime | None:
        timeout = self.config.timeout_seconds
        if timeout is None or state.started_at is None:
            return None
        return state.started_at + timedelta(seconds=timeout)

    def _trail_level(self, state: SmartTradeState) -> Decimal | None:
        percent, high = self.config.trailing_percent, state.high
        if percent is None or high is None:
            return None
        activation = self.config.trailing_activation_price
        if activation is not None and high < activation:
            return None
        return high * (1 - percent / HUNDRED)

    def _wake(self, state: SmartTradeState, now: datetime) -> Wake:
        if state.done:
            return Wake.never()
        at = self._deadline(state)
        if state.exit is not None and state.closer is None and state.backoff.waiting(now):
            # Its close was refused and nothing of it is in flight: sold again at the retry
            # time. A new high still wakes it, only to note the high (``_follow``).
            above = None if state.high is None else state.high + self.market.price_tick
            return Wake(price_at_or_above=above, at=state.retry_at)
        if state.exit is not None:
            # Closing: called at every price until the sale is over. A close refused before it
            # reached the book (pre-trade risk) leaves no fill and no live order to notice; only
            # this call notices it and sells again (``_follow``, after the back-off).
            return Wake(at=at, every_candle=True)
        if state.holding.amount <= 0:
            return Wake(at=at)
        if not state.targets and self.config.take_profits and state.targets_backoff.waiting(now):
            # Take-profits that left the book unfilled: placed again at the retry time.
            at = earliest(at, state.targets_backoff.retry_at)
        levels = [level for level in (state.stop, self._trail_level(state)) if level is not None]
        above = None
        if self.config.trailing_percent is not None and state.high is not None:
            above = state.high + self.market.price_tick
        return Wake(
            price_at_or_below=max(levels) if levels else None, price_at_or_above=above, at=at
        )
