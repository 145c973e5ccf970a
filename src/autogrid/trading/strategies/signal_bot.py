"""The signal bot: long-only spot orders on what external signals ask for.

Signals wait in the state's queue (``enqueue``) and are acted on, in arrival order, at the first
decision whose ``now`` is at or after their time; a replay preloads them (``schedule``) and the
bot asks to be woken at the next one. What each signal asks for:

* ``buy``: enter or add. Market (fills at the next price) or limit at ``price``; with an entry zone,
  ``zone_orders`` limit buys spread evenly from its top to its bottom. The amount is quote, base
  or a percent of the free quote; none: the bot's default size. A stop-loss or take-profits on
  the signal replace the bot's current ones.
* ``sell``: sell the amount (base, quote at the current price, or a percent of the position;
  none: all of it), market or limit.
* ``close_all``: cancel every open order and sell the whole position at market.
* ``reverse``: on spot, long only, there is no short to reverse into: the same as ``close_all``.
* Other actions (DCA deals, pause, resume) belong to other bots: refused.

Stop-loss: when a price the bot sees is at or below it while holding, every order is cancelled
and the position sold at market (at the next candle's open in a backtest; there is no resting
stop order, the exchange model has none). Take-profits: limit sells for their shares of the
position (even split when no share is given), placed again whenever the position changes by a
buy or a signal's sell; together they never cover more than the position. One that leaves the
book unfilled (rejected by the exchange, cancelled by someone else) has them all placed again,
with the back-off of a refused close below (``targets_backoff``): never left out for good, never
sent at every tick.

A close's sale refused before it reached the book (pre-trade risk: the owner's daily loss limit;
the exchange: insufficient balance) leaves no fill and no live order: it is placed again, never
given up, with the DCA's back-off (``refusals``): at the next price, then 1, 2, 4, 8 and at most 16
minutes apart while the refusals go on (each attempt a refused order; the owner is told of the
first, ``PlaceOrder.attempt``, and the attempts again leave no outcome of their own), the bot
asking to be woken at the retry time meanwhile. A fill of the sale ends the back-off. A new
``close_all`` or ``reverse`` signal while it waits is the owner asking again: it is carried out at
once, as a new close (a first attempt, told if refused), since whoever sends a close expects a
sale now rather than at the end of a wait of up to 16 minutes. The bot's own stop (the API's stop
with ``sell_base``) is carried out by the runtime (``engine.stopping``), never held back either.

What cannot be done (below the market's minimums, more than the free quote, nothing held, a
limit without a price, another symbol) is refused: each signal leaves a ``SignalOutcome``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.signals.model import AmountUnit, OrderKind, ParsedSignal, SignalAction
from autogrid.trading.strategies.base import (
    Action,
    Decision,
    PlaceOrder,
    PriceOnly,
    Snapshot,
    StrategyConfigError,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.grid_config import round_amount, round_price
from autogrid.trading.strategies.refusals import Backoff, earliest, resting_outcome
from autogrid.trading.strategies.signal_bot_state import (
    ZERO,
    SignalBotState,
    SignalOutcome,
    TimedSignal,
)
from autogrid.trading.strategies.trade_parts import (
    Holding,
    Refused,
    below_minimums,
    cancel_resting,
    entry_orders,
    take_profit_orders,
    zone_prices,
)

HUNDRED = Decimal(100)
STOP_REF = -1  # outcome reference of the bot's own stop-loss sale
_CLOSING = (SignalAction.CLOSE_ALL, SignalAction.REVERSE)


@dataclass(frozen=True, slots=True)
class SignalBotConfig:
    default_quote: Decimal | None = None  # size of a buy without an amount...
    default_pct: Decimal = Decimal(10)  # ...else this percent of the free quote
    zone_orders: int = 3  # limit buys an entry zone is split into

    def validate(self) -> None:
        if self.default_quote is not None and self.default_quote <= 0:
            raise StrategyConfigError("default_quote must be positive")
        if not ZERO < self.default_pct <= HUNDRED:
            raise StrategyConfigError("default_pct must be in (0, 100]")
        if not 1 <= self.zone_orders <= 20:
            raise StrategyConfigError("zone_orders must be between 1 and 20")


@dataclass(slots=True)
class _Step:
    """One decision in progress: actions so far and the balances they leave."""

    snapshot: Snapshot
    state: SignalBotState
    free_quote: Decimal
    free_base: Decimal
    actions: list[Action]
    # Cancelled in this decision: they hold no base any more, whatever the state still lists.
    cancelled: set[str] = field(default_factory=set)

    def place(
        self, prefix: str, side: Side, price: Decimal | None, amount: Decimal, attempt: int = 1
    ) -> str:
        seq = self.state.seq + 1
        tag = f"{prefix}{seq}"
        kind = OrderType.MARKET if price is None else OrderType.LIMIT
        self.actions.append(PlaceOrder(tag, side, kind, amount, price, attempt=attempt))
        self.state = self.state.evolve(seq=seq)
        return tag

    def cancel(self, tags: Iterable[str]) -> None:
        tags = set(tags) - self.cancelled
        freed_base, freed_quote = cancel_resting(self.snapshot, tags, self.actions)
        self.cancelled |= tags
        self.free_base += freed_base
        self.free_quote += freed_quote

    def sellable(self) -> Decimal:
        """Base the bot may still sell: what it holds, not already on a live sell order."""
        committed = ZERO
        for tag in (self.state.exits | self.state.targets) - self.cancelled:
            resting = self.snapshot.order(tag)
            committed += resting.remaining if resting is not None else ZERO
        held = max(ZERO, self.state.amount - committed)
        return round_amount(min(held, self.free_base), self.snapshot.market.amount_step)


@dataclass(frozen=True, slots=True)
class SignalBotStrategy(PriceOnly):
    market: MarketRules
    config: SignalBotConfig = SignalBotConfig()
    schedule: tuple[TimedSignal, ...] = ()  # a replay's signals, queued from the start
    # A replay's signals that had no candle to act on, answered from the start.
    skipped: tuple[SignalOutcome, ...] = ()
    name: str = "signal"

    def __post_init__(self) -> None:
        self.config.validate()

    # --- the contract ---------------------------------------------------------------------
    def initial_state(self, snapshot: Snapshot) -> SignalBotState:
        queue = tuple(sorted(self.schedule, key=lambda s: s.at))
        return SignalBotState(queue=queue, outcomes=self.skipped)

    def dump_state(self, state: SignalBotState) -> dict[str, Any]:
        return state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> SignalBotState:
        return SignalBotState.from_dict(data)

    @staticmethod
    def enqueue(state: SignalBotState, signals: Sequence[TimedSignal]) -> SignalBotState:
        """The state with ``signals`` waiting for the next decision at or after their time."""
        return state.evolve(queue=tuple(sorted((*state.queue, *signals), key=lambda s: s.at)))

    @staticmethod
    def take_outcomes(state: SignalBotState) -> tuple[tuple[SignalOutcome, ...], SignalBotState]:
        """The outcomes so far, and the state without them (a live bot records each once)."""
        return state.outcomes, state.evolve(outcomes=())

    def decide(
        self, snapshot: Snapshot, state: SignalBotState, fills: Sequence[StrategyFill]
    ) -> Decision[SignalBotState]:
        stale = False
        for fill in fills:
            state = self._apply_fill(state, fill)
            stale = stale or fill.tag not in state.targets
        live = {order.tag for order in snapshot.open_orders}
        targets_gone, targets_backoff = resting_outcome(
            state.targets_backoff, state.targets, fills, live, snapshot.now
        )
        state = state.evolve(targets_backoff=targets_backoff)
        state = self._prune(live, self._sale_outcome(snapshot, live, state, fills))
        step = _Step(snapshot, state, snapshot.free_quote, snapshot.free_base, [])
        if targets_gone:  # placed again all together (``_place_targets`` cancels the rest)
            step.cancel(state.targets)
            step.state = step.state.evolve(targets=frozenset(), targets_unplaced=True)
        if self._stop_hit(snapshot, step.state):
            self._close_all(step, STOP_REF, "stop_loss")
            stale = False
        elif step.state.closing:
            self._close_rest(step)
        due = [item for item in step.state.queue if item.at <= snapshot.now]
        if due:
            step.state = step.state.evolve(queue=step.state.queue[len(due) :])
        for item in due:
            stale = self._handle(step, item) or stale
        again = step.state.targets_unplaced and not step.state.targets_backoff.waiting(snapshot.now)
        if (stale or again) and step.state.take_profits and not step.state.exits:
            self._place_targets(step)
        state = step.state
        if state.amount <= 0 and not state.entries and not state.exits:
            # ``closing`` stays: a buy the close cancelled may still report a fill.
            state = state.evolve(
                stop_loss=None, take_profits=(), targets=frozenset(), targets_unplaced=False
            )
        return Decision(tuple(step.actions), state, self._wake(state, snapshot.now))

    # --- fills and books ------------------------------------------------------------------
    def _apply_fill(self, state: SignalBotState, fill: StrategyFill) -> SignalBotState:
        before = Holding(state.amount, state.cost, state.realized_pnl, state.fees_quote)
        after = before.after(fill, self.market)
        return state.evolve(
            amount=after.amount,
            cost=after.cost,
            realized_pnl=after.realized_pnl,
            fees_quote=after.fees_quote,
        )

    @staticmethod
    def _sale_outcome(
        snapshot: Snapshot, live: set[str], state: SignalBotState, fills: Sequence[StrategyFill]
    ) -> SignalBotState:
        """A close's sale reached the book (a fill: the back-off is over) or left it without
        one (refused before the book: back off before selling again)."""
        if not state.closing or not state.exits:
            return state
        if any(fill.tag in state.exits for fill in fills):
            return state.backing_off(Backoff())
        if state.exits - live:
            return state.backing_off(state.backoff.refused(snapshot.now))
        return state

    @staticmethod
    def _prune(live: set[str], state: SignalBotState) -> SignalBotState:
        """Forget orders no longer on the book (filled, refused, cancelled)."""
        return state.evolve(
            entries=state.entries & live, exits=state.exits & live, targets=state.targets & live
        )

    # --- signals --------------------------------------------------------------------------
    def _handle(self, step: _Step, item: TimedSignal) -> bool:
        """Act on one signal and record its outcome; True if the position's targets are stale."""
        signal = item.signal
        before = len(step.actions)
        try:
            if signal.symbol is not None and signal.symbol != self.market.symbol:
                raise Refused(f"signal is for {signal.symbol}, the bot trades {self.market.symbol}")
            if signal.action is SignalAction.BUY:
                done = self._buy(step, signal)
            elif signal.action is SignalAction.SELL:
                done = self._sell(step, signal)
            elif signal.action in _CLOSING:
                done = self._close_all(step, item.ref, signal.action.value)
            else:
                raise Refused(f"{signal.action.value} is not an action of a signal bot")
        except Refused as refusal:
            self._record(step, item.ref, signal.action.value, False, str(refusal))
            return False
        tags = tuple(
            action.tag for action in step.actions[before:] if isinstance(action, PlaceOrder)
        )
        if signal.action not in _CLOSING:
            self._record(step, item.ref, signal.action.value, True, done, tags)
        # A buy that brings new take-profits while holding moves them at once; otherwise the
        # targets follow the position when the buy fills.
        return (
            signal.action is SignalAction.BUY
            and bool(signal.take_profits)
            and step.state.amount > 0
        )

    def _buy(self, step: _Step, signal: ParsedSignal) -> str:
        prices = self._entry_prices(step.snapshot, signal)
        sized = entry_orders(
            prices,
            self._buy_total(step, signal),
            in_base=signal.amount is not None and signal.amount.unit is AmountUnit.BASE,
            price=step.snapshot.price,
            free_quote=step.free_quote,
            market=self.market,
        )
        entries = set(step.state.entries)
        for price, amount in sized.orders:
            entries.add(step.place("B", Side.BUY, price, amount))
        step.free_quote -= sized.cost
        changes: dict[str, Any] = {"entries": frozenset(entries), "closing": False}
        if signal.stop_loss is not None:
            changes["stop_loss"] = signal.stop_loss
        if signal.take_profits:
            changes["take_profits"] = signal.take_profits
        # A close left unsold is given up: no back-off.
        step.state = step.state.evolve(**changes).backing_off(Backoff())
        return f"{len(sized.orders)} buy order(s)"

    def _entry_prices(self, snapshot: Snapshot, signal: ParsedSignal) -> list[Decimal | None]:
        tick = self.market.price_tick
        zone = signal.entry_zone
        if zone is not None:
            return list(zone_prices(zone.low, zone.high, self.config.zone_orders, tick))
        if signal.order_kind is OrderKind.LIMIT:
            if signal.price is None or signal.price <= 0:
                raise Refused("a limit buy needs a price")
            return [round_price(signal.price, tick)]
        return [None]

    def _buy_total(self, step: _Step, signal: ParsedSignal) -> Decimal:
        """What a buy spends: quote, or base for a base amount."""
        amount = signal.amount
        if amount is None:
            if self.config.default_quote is not None:
                return self.config.default_quote
            return step.free_quote * self.config.default_pct / HUNDRED
        if amount.unit is AmountUnit.QUOTE:
            return amount.value
        if amount.unit is AmountUnit.PERCENT:
            return step.free_quote * amount.value / HUNDRED
        return amount.value  # base

    def _sell(self, step: _Step, signal: ParsedSignal) -> str:
        if step.state.amount <= 0:
            raise Refused("nothing held to sell")
        step.cancel(step.state.targets)
        step.state = step.state.evolve(targets=frozenset())
        held = step.sellable()
        price = None
        if signal.order_kind is OrderKind.LIMIT:
            if signal.price is None or signal.price <= 0:
                raise Refused("a limit sell needs a price")
            price = round_price(signal.price, self.market.price_tick)
        at = step.snapshot.price if price is None else price
        amount = self._sell_amount(signal, held, at)
        self._check_minimums(amount, at)
        tag = step.place("S", Side.SELL, price, amount)
        step.free_base -= amount
        step.state = step.state.evolve(exits=step.state.exits | {tag})
        return f"sell {amount}"

    def _sell_amount(self, signal: ParsedSignal, held: Decimal, price: Decimal) -> Decimal:
        amount = signal.amount
        if amount is None:
            wanted = held
        elif amount.unit is AmountUnit.BASE:
            wanted = amount.value
        elif amount.unit is AmountUnit.QUOTE:
            wanted = amount.value / price
        else:
            wanted = held * amount.value / HUNDRED
        return round_amount(min(wanted, held), self.market.amount_step)

    def _close_all(self, step: _Step, ref: int, action: str) -> str:
        state = step.state
        step.cancel(state.entries | state.exits | state.targets)
        step.state = state.evolve(
            entries=frozenset(),
            exits=frozenset(),
            targets=frozenset(),
            stop_loss=None,
            take_profits=(),
            closing=True,
        ).backing_off(Backoff())  # a new close (a signal, the stop-loss): placed now, attempt 1
        held = step.sellable()
        if held <= 0:
            self._record(step, ref, action, True, "orders cancelled, nothing to sell")
            return ""
        if below_minimums(held, step.snapshot.price, self.market) is not None:
            reason = f"orders cancelled; {held} left: below the market's minimums"
            self._record(step, ref, action, True, reason)
            return ""
        tag = step.place("S", Side.SELL, None, held)
        step.free_base -= held
        step.state = step.state.evolve(exits=frozenset({tag}))
        self._record(step, ref, action, True, f"sell {held} at market", (tag,))
        return ""

    def _close_rest(self, step: _Step) -> None:
        """A close whose sale is over, or was refused before the book: what is held now (a buy
        it cancelled filled as the cancel landed) is sold at market too; the close is over once
        nothing sellable is left."""
        if step.state.exits:
            return  # the sale under way: its fills come first
        held = step.sellable()
        if held <= 0 or below_minimums(held, step.snapshot.price, self.market) is not None:
            step.state = step.state.evolve(closing=False).backing_off(Backoff())
            return
        backoff = step.state.backoff
        if backoff.waiting(step.snapshot.now):
            return  # its sale was refused: placed again at ``retry_at``
        tag = step.place("S", Side.SELL, None, held, backoff.attempt)
        step.free_base -= held
        step.state = step.state.evolve(exits=frozenset({tag}))
        if backoff.refusals:
            return  # a sale refused placed again: its first refusal was told, not each attempt
        reason = f"sell {held} at market: bought while closing"
        self._record(step, STOP_REF, "close_all", True, reason, (tag,))

    def _place_targets(self, step: _Step) -> None:
        step.cancel(step.state.targets)
        held = step.sellable()
        tags: set[str] = set()
        skipped = 0
        attempt = step.state.targets_backoff.attempt
        for _, price, amount in take_profit_orders(step.state.take_profits, held, self.market):
            if amount is None:
                skipped += 1
                continue
            tags.add(step.place("T", Side.SELL, price, amount, attempt))
            step.free_base -= amount
        step.state = step.state.evolve(targets=frozenset(tags), targets_unplaced=False)
        if skipped:
            reason = f"{skipped} take-profit step(s) below the market's minimums"
            self._record(step, STOP_REF, "take_profit", False, reason)

    # --- helpers --------------------------------------------------------------------------
    def _check_minimums(self, amount: Decimal, price: Decimal) -> None:
        refusal = below_minimums(amount, price, self.market)
        if refusal is not None:
            raise Refused(refusal)

    @staticmethod
    def _record(
        step: _Step, ref: int, action: str, ok: bool, reason: str, tags: tuple[str, ...] = ()
    ) -> None:
        outcome = SignalOutcome(ref, step.snapshot.now, action, ok, reason, tags)
        step.state = step.state.evolve(outcomes=(*step.state.outcomes, outcome))

    @staticmethod
    def _stop_hit(snapshot: Snapshot, state: SignalBotState) -> bool:
        return (
            state.stop_loss is not None and state.amount > 0 and snapshot.price <= state.stop_loss
        )

    @staticmethod
    def _wake(state: SignalBotState, now: datetime) -> Wake:
        at: datetime | None = state.queue[0].at if state.queue else None
        below = state.stop_loss if state.amount > 0 or state.entries else None
        # Closing with something held: called at every price until it is sold (a sale refused
        # before the book leaves no fill and no live order to notice)...
        closing = state.closing and state.amount > 0
        if closing and not state.exits and state.backoff.waiting(now):
            # ...but after a refusal, at the retry time (or the next signal's).
            at = earliest(at, state.retry_at)
            closing = False
        if state.targets_unplaced and state.targets_backoff.waiting(now):
            at = earliest(at, state.targets_backoff.retry_at)  # take-profits to place again
        return Wake(price_at_or_below=below, at=at, every_candle=closing)
