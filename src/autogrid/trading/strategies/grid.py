"""Grid strategy: a ladder of limit orders that buys dips and sells rips, one level apart.

Rules: the level nearest the price stays empty, buys rest below it and sells above; a filled buy at
level i places a sell at level i+1 and a filled sell at level i places a buy at level i-1. Levels
are numbered absolutely (0 is the configured lower price) so that trailing, which slides the
ladder, never reuses a tag. A counter-order is placed when its order is completely filled; partial
fills accumulate until then. An order that leaves the book unfilled without the grid cancelling
it (rejected by the exchange, cancelled by someone else) still has its inventory (a sell) or its
quote (a buy): it is offered again, at once the first time, then with the back-off of refused
orders (``refusals``) while that goes on, so an exchange rejecting it is not sent it at every
tick, and no level is left without its order for good. Grid profit is the
profit of completed buy->sell round trips after both fees; selling inventory bought at start
(neutral) counts in realized P&L only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any

from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    Decision,
    PlaceOrder,
    PriceOnly,
    Snapshot,
    StopBot,
    StrategyFill,
    Wake,
)
from autogrid.trading.strategies.grid_config import (
    Direction,
    GridConfig,
    round_amount,
    validate_grid,
)
from autogrid.trading.strategies.grid_ladder import GridLadder, buy_tag, sell_tag
from autogrid.trading.strategies.grid_state import GridDraft, GridState, Lot, Partial
from autogrid.trading.strategies.refusals import Backoff

INIT_TAG = "INIT"
STOP_SELL_TAG = "STOPSELL"
MAX_TRAIL_SHIFTS_PER_CALL = 1000
_NOTHING_FILLED = Partial()  # frozen: one shared empty start for every order


@dataclass(frozen=True, slots=True)
class GridStrategy(PriceOnly):
    config: GridConfig
    market: MarketRules
    name: str = "grid"
    ladder: GridLadder = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_grid(self.config, self.market)
        object.__setattr__(self, "ladder", GridLadder(self.config, self.market))

    # --- contract (candles_needed and indicators: PriceOnly) ---------------------------------
    def initial_state(self, snapshot: Snapshot) -> GridState:
        return GridState()

    def dump_state(self, state: GridState) -> dict[str, Any]:
        return state.to_dict()

    def load_state(self, data: Mapping[str, Any]) -> GridState:
        return GridState.from_dict(data)

    def decide(
        self, snapshot: Snapshot, state: GridState, fills: Sequence[StrategyFill]
    ) -> Decision[GridState]:
        if state.phase == "stopped":
            return Decision((), state)
        actions: list[Action] = []
        work = GridDraft.of(state)
        # Fills first: an order that filled in part and then left the book (cancelled, expired)
        # is settled with every fill it had, in this very decision.
        gone = work.live | work.cancelling
        gone.difference_update(map(_tag_of, snapshot.open_orders))
        if gone:
            gone.difference_update(fill.tag for fill in fills if fill.order_complete)
        for fill in fills:
            self._apply_fill(work, fill, actions)
        if gone:
            self._settle_vanished_orders(work, gone, actions, snapshot.now)
        again = bool(work.unplaced or work.unplaced_buys) and not work.backoff.waiting(snapshot.now)
        if again and work.unplaced:
            self._sell_again(work, actions)
        if work.phase == "new":
            self._open_ladder(snapshot, work, actions)
        stop = self.ladder.stop_condition(snapshot.price)
        if stop is not None:
            actions.append(
                StopBot(stop, cancel_orders=True, sell_base=self.config.sell_base_on_stop)
            )
            work.phase = "stopped"
            return Decision(tuple(actions), work.freeze())
        self._trail(snapshot.price, work, actions)
        if again and work.unplaced_buys:  # after the shifts: the quote they move is theirs
            self._buy_again(work, actions, snapshot)
        return Decision(tuple(actions), work.freeze(), self._wake(work))

    # --- steps (each updates the draft in place) --------------------------------------------
    def _open_ladder(self, snapshot: Snapshot, work: GridDraft, actions: list[Action]) -> None:
        empty = self.ladder.nearest_level(snapshot.price, work.offset)
        for level in range(work.offset, empty):
            actions.append(self.ladder.buy_order(level))
            work.live.add(buy_tag(level))
        work.init_empty_level = empty
        work.phase = "running"
        if self.config.direction is Direction.NEUTRAL:
            top = work.offset + self.config.grid_count
            needed = sum(
                (self.ladder.amount_for(level - 1) for level in range(empty + 1, top + 1)),
                Decimal(0),
            )
            if needed > 0:
                actions.append(PlaceOrder(INIT_TAG, Side.BUY, OrderType.MARKET, needed))
                work.live.add(INIT_TAG)
                work.phase = "initializing"

    def _settle_vanished_orders(
        self, work: GridDraft, gone: set[str], actions: list[Action], now: datetime
    ) -> None:
        """Orders that ended without completing: cancelled by us or by someone else, or refused.

        Whatever part of them filled is settled as if the order had completed with that amount,
        so no fill is ever lost from the accounting or the inventory. A sell refused or
        cancelled by someone else leaves its inventory held, a buy its quote unspent: offered again
        (a buy for what it had left to buy), with the back-off of refused orders (``refusals``), by
        ``_place_again``.
        """
        vanished = sorted(gone)
        ours = work.cancelling.intersection(vanished)
        work.live.difference_update(vanished)
        work.cancelling.difference_update(vanished)
        refused = False
        for tag in vanished:
            partial = work.partials.get(tag)
            if tag.startswith("B") and tag not in ours:
                self._keep_unbought(work, tag, partial)
                refused = True
            if partial is not None and partial.amount > 0:
                self._settle(work, tag, partial, actions, cancelled=True)
            work.partials.pop(tag, None)
            work.sizes.pop(tag, None)
            waiting = work.moved.pop(tag, None)
            if waiting is not None:  # cancelled before it sold anything: its base is all free
                self._place_sell(work, waiting, actions)
            if tag.startswith("S") and tag not in ours:
                work.unplaced.add(int(tag[1:]))
                refused = True
        if refused:
            start = Backoff() if work.backoff.lapsed(now) else work.backoff
            work.backoff = start.refused(now)

    def _keep_unbought(self, work: GridDraft, tag: str, partial: Partial | None) -> None:
        """A buy gone unfilled (in part): what it had left to buy waits in ``unplaced_buys``."""
        level = int(tag[1:])
        size = work.sizes.get(tag) or self.ladder.amount_for(level)
        left = size - (partial.amount if partial is not None else Decimal(0))
        if self.ladder.sellable(left, level) is not None:  # a rest too small to order is dust
            work.unplaced_buys[level] = left

    def _sell_again(self, work: GridDraft, actions: list[Action]) -> None:
        """The sells that left the book unfilled, once the back-off allows (a level whose sell a
        fill placed meanwhile, or whose lot is gone, has nothing left to place)."""
        attempt = work.backoff.attempt
        for level in sorted(work.unplaced):
            self._place_sell(work, level, actions, attempt)
        work.unplaced.clear()

    def _buy_again(self, work: GridDraft, actions: list[Action], snapshot: Snapshot) -> None:
        """The buys that left the book unfilled, once the back-off allows (a level whose buy a
        sell above placed meanwhile, or that a shift left below the ladder, has nothing to buy).

        Nearest the price first, each for no more quote than is free beside this decision's
        other buys: a buy refused because the quote it counted on went elsewhere (part of a buy a
        shift moved had filled before its cancel) buys what is left; one with nothing left to
        buy waits for the next retry."""
        attempt = work.backoff.attempt
        free = snapshot.free_quote - sum(
            (
                a.amount * (a.price or snapshot.price)
                for a in actions
                if isinstance(a, PlaceOrder) and a.side is Side.BUY
            ),
            Decimal(0),
        )
        waiting: dict[int, Decimal] = {}
        for level, amount in sorted(work.unplaced_buys.items(), reverse=True):
            tag = buy_tag(level)
            if level < work.offset or tag in work.live:
                continue
            price = self.ladder.price_at(level)
            if amount * price > free:
                amount = round_amount(max(free, Decimal(0)) / price, self.market.amount_step)
                if self.ladder.sellable(amount, level) is None:
                    waiting[level] = work.unplaced_buys[level]
                    continue
            actions.append(PlaceOrder(tag, Side.BUY, OrderType.LIMIT, amount, price, None, attempt))
            work.live.add(tag)
            free -= amount * price
            if amount != self.ladder.amount_for(level):
                work.sizes[tag] = amount
        work.unplaced_buys = waiting
        if waiting:
            work.backoff = work.backoff.refused(snapshot.now)

    def _apply_fill(self, work: GridDraft, fill: StrategyFill, actions: list[Action]) -> None:
        partial = work.partials.get(fill.tag, _NOTHING_FILLED).add(fill)
        work.partials[fill.tag] = partial
        if not fill.order_complete:
            return
        work.live.discard(fill.tag)
        work.cancelling.discard(fill.tag)
        if work.sizes:
            work.sizes.pop(fill.tag, None)
        self._settle(work, fill.tag, partial, actions, cancelled=False)

    def _settle(
        self, work: GridDraft, tag: str, done: Partial, actions: list[Action], *, cancelled: bool
    ) -> None:
        """Account for an order that is over (``done`` holds all its fills) and react to it."""
        work.partials.pop(tag, None)
        fee_in_quote = done.fee_quote + done.fee_base * done.average_price
        work.fees_quote = work.fees_quote + fee_in_quote
        if tag == INIT_TAG:
            self._distribute_initial_inventory(work, done, actions)
        elif tag == STOP_SELL_TAG:
            pnl = self._stop_sale_pnl(work, done)
            work.realized_pnl = work.realized_pnl + pnl
            work.lots = {}
        elif tag.startswith("B"):
            self._bought(work, int(tag[1:]), done, actions)
        else:
            self._sold(work, int(tag[1:]), done, actions, replace_buy=not cancelled)

    def _bought(self, work: GridDraft, level: int, bought: Partial, actions: list[Action]) -> None:
        lot = Lot(amount=bought.net_base, cost=bought.quote_spent, from_grid=True)
        work.lots[level + 1] = work.lots.get(level + 1, Lot.empty()).merge(lot)
        self._place_sell(work, level + 1, actions)

    def _sold(
        self,
        work: GridDraft,
        level: int,
        sold: Partial,
        actions: list[Action],
        *,
        replace_buy: bool,
    ) -> None:
        destination = work.moved.pop(sell_tag(level), None)
        if destination is not None:  # cancelled by a shift, it sold first: where its base went
            level, replace_buy = destination, False
        lot = work.lots.get(level, Lot.empty())
        proceeds = sold.quote_received
        cost = lot.cost_of(sold.amount)
        pnl = proceeds - cost
        remaining = lot.without(sold.amount)
        if remaining.amount > 0:
            work.lots[level] = remaining
        else:
            work.lots.pop(level, None)
        work.realized_pnl = work.realized_pnl + pnl
        work.grid_profit = work.grid_profit + (pnl if lot.from_grid else Decimal(0))
        work.round_trips = work.round_trips + (1 if lot.from_grid else 0)
        below = level - 1
        # What is left gets its own sell (inventory that joined the level while this sell
        # rested, or the rest of a sell that ended early). A remainder no order can carry (a fee
        # taken in the base coin, rounding) is dust: it stays in the lot, and the next buy at this
        # level folds it back in.
        self._place_sell(work, level, actions)
        if not replace_buy:
            return
        if below >= work.offset and buy_tag(below) not in work.live:
            order = self.ladder.buy_order(below)
            price = self.ladder.price_at(below)
            if proceeds < order.amount * price:
                # A lot a downward shift moved here cost a grid higher up and sells for less:
                # buy back only what the sale brought, never quote it did not.
                amount = round_amount(proceeds / price, self.market.amount_step)
                if self.ladder.sellable(amount, below) is None:
                    return
                order = PlaceOrder(order.tag, Side.BUY, OrderType.LIMIT, amount, price)
                work.sizes[order.tag] = amount
            actions.append(order)
            work.live.add(order.tag)
            work.unplaced_buys.pop(below, None)  # the sale placed the buy it was waiting to

    def _distribute_initial_inventory(
        self, work: GridDraft, bought: Partial, actions: list[Action]
    ) -> None:
        top = work.offset + self.config.grid_count
        levels = list(range(work.init_empty_level + 1, top + 1))
        planned = [self.ladder.amount_for(level - 1) for level in levels]
        total_planned = sum(planned, Decimal(0))
        # Fees in base (and rounding) can leave slightly less than planned: scale each lot down.
        scale = min(Decimal(1), bought.net_base / total_planned) if total_planned else Decimal(0)
        lots = work.lots
        for level, amount in zip(levels, planned, strict=True):
            share = round_amount(amount * scale, self.market.amount_step)
            cost = bought.quote_spent * share / bought.net_base if bought.net_base else Decimal(0)
            lots[level] = lots.get(level, Lot.empty()).merge(Lot(share, cost, from_grid=False))
        work.phase = "running"
        for level in levels:
            self._place_sell(work, level, actions)

    def _place_sell(
        self, work: GridDraft, level: int, actions: list[Action], attempt: int = 1
    ) -> None:
        lot = work.lots.get(level)
        tag = sell_tag(level)
        if lot is None or tag in work.live:
            return
        if work.moved and level in work.moved.values():
            # Part of this lot is still in a sell being cancelled, which may yet sell it: offered
            # once that sell is over, so no order ever sells base the bot may no longer hold.
            return
        amount = self.ladder.sellable(lot.amount, level)
        if amount is None:
            return  # dust: kept in the lot, counted in the position, never ordered
        price = self.ladder.price_at(level)
        actions.append(PlaceOrder(tag, Side.SELL, OrderType.LIMIT, amount, price, None, attempt))
        work.live.add(tag)

    def _stop_sale_pnl(self, work: GridDraft, sold: Partial) -> Decimal:
        held = sum((lot.amount for lot in work.lots.values()), Decimal(0))
        cost = sum((lot.cost for lot in work.lots.values()), Decimal(0))
        share = min(Decimal(1), sold.amount / held) if held else Decimal(0)
        return sold.quote_received - cost * share

    # --- stops and trailing -------------------------------------------------------------------
    def _trail(self, price: Decimal, work: GridDraft, actions: list[Action]) -> None:
        if work.phase != "running":
            return
        for _ in range(MAX_TRAIL_SHIFTS_PER_CALL):
            if self.ladder.should_trail_up(price, work.offset):
                self._shift_up(work, actions)
            elif self.ladder.should_trail_down(price, work.offset):
                self._shift_down(work, actions)
            else:
                break

    def _shift_up(self, work: GridDraft, actions: list[Action]) -> None:
        """Slide the ladder one level up: the lowest buy's quote moves to just below the top."""
        old_top = work.offset + self.config.grid_count
        lowest = buy_tag(work.offset)
        moving = lowest in work.live
        placed = work.sizes.pop(lowest, None) if moving else None  # None: its level's amount
        waiting = work.unplaced_buys.pop(work.offset, None)
        if waiting is not None and old_top not in work.unplaced_buys:
            # A buy waiting to be placed again moves up like a resting one (the quote it holds),
            # and keeps waiting: the back-off is the exchange's, not the level's.
            amount = round_amount(
                waiting * self.ladder.price_at(work.offset) / self.ladder.price_at(old_top),
                self.market.amount_step,
            )
            if self.ladder.sellable(amount, old_top) is not None:
                work.unplaced_buys[old_top] = amount
        if moving:
            actions.append(CancelOrder(lowest))
            work.live.discard(lowest)
            work.cancelling.add(lowest)
        # Only the lowest buy's quote moves up: with none resting (it filled, and its base waits
        # for its sell), the new top level gets its buy when the sell above it fills.
        if moving and buy_tag(old_top) not in work.live:
            order = self.ladder.buy_order(old_top)
            bought = work.partials.get(lowest)
            filled = bought.amount if bought is not None else Decimal(0)
            if filled > 0 or placed is not None:  # only the quote it still holds moves
                held = (placed or self.ladder.amount_for(work.offset)) - filled
                freed = held * self.ladder.price_at(work.offset)
                amount = round_amount(
                    freed / self.ladder.price_at(old_top), self.market.amount_step
                )
                order = PlaceOrder(order.tag, Side.BUY, OrderType.LIMIT, amount, order.price)
            if self.ladder.sellable(order.amount, old_top) is not None:
                actions.append(order)
                work.live.add(order.tag)
                if order.amount != self.ladder.amount_for(old_top):
                    work.sizes[order.tag] = order.amount
        work.offset += 1
        work.shifts += 1

    def _shift_down(self, work: GridDraft, actions: list[Action]) -> None:
        """Slide the ladder one level down: the highest sell's inventory moves to just above the
        bottom, keeping its cost basis."""
        top = work.offset + self.config.grid_count
        highest = sell_tag(top)
        if highest in work.live:
            actions.append(CancelOrder(highest))
            work.live.discard(highest)
            work.cancelling.add(highest)
        moved = work.lots.pop(top, None)
        work.offset -= 1
        work.shifts -= 1
        if moved is not None:
            target = work.offset + 1
            for tag, level in work.moved.items():
                if level == top:  # moved again: keep pointing at where the base is now
                    work.moved[tag] = target
            if highest in work.cancelling:
                work.moved[highest] = target
            work.lots[target] = work.lots.get(target, Lot.empty()).merge(moved)
            self._place_sell(work, target, actions)  # at once unless a cancelled sell holds it

    def _wake(self, work: GridDraft) -> Wake:
        offset = work.offset
        below = [
            p
            for p in (self.config.stop_loss_price, self.ladder.trail_down_trigger(offset))
            if p is not None
        ]
        above = [
            p
            for p in (self.config.take_profit_price, self.ladder.trail_up_trigger(offset))
            if p is not None
        ]
        return Wake(
            price_at_or_below=max(below) if below else None,
            price_at_or_above=min(above) if above else None,
            # Orders that left the book unfilled go again when the back-off allows.
            at=work.backoff.retry_at if work.unplaced or work.unplaced_buys else None,
            # Moved inventory waits for its old sell's cancel: offer it as soon as that lands.
            every_candle=bool(work.moved),
        )


_tag_of = attrgetter("tag")  # C-speed over a hundred resting orders per call
