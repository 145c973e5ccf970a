"""Asking the strategy, when there is anything to ask it about.

A decision is taken when the strategy has never decided, when fills await it, when one of its
orders vanished or ended (the live tags changed), when its wake condition holds, or always for
strategies that read candles. Otherwise the strategy contract promises ``decide`` would change
nothing, and the tick skips it (and with it a snapshot and a transaction).

A strategy that raises stops only its own bot: status error, the exception recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from autogrid.backtest.factory import strategy_from_params
from autogrid.bots.indicator_params import candle_timeframe
from autogrid.bots.ledger import split_symbol
from autogrid.bots.scheduled_buys import DueSlot, due_slot, next_runs, recurring_buy_of
from autogrid.bots.schemas import strategy_data
from autogrid.bots.service import stored_params
from autogrid.bots.state import BotState, load_state
from autogrid.engine.context import CachedStrategy
from autogrid.engine.guard import count_trip
from autogrid.engine.recording import persist_decision, tags_of
from autogrid.engine.snapshot import build_snapshot, read_inbox
from autogrid.execution.reconcile import execute_pending
from autogrid.orders import store as repo
from autogrid.trading.strategies.base import StrategyConfigError

if TYPE_CHECKING:
    from autogrid.engine.step import BotTick

logger = logging.getLogger(__name__)


# When and at what price a decision would be taken; asked lazily (it may cost a query).
Moment = Callable[[], Awaitable[tuple[datetime, Decimal]]]


def wake_is_set(wake: dict[str, Any] | None) -> bool:
    return bool(wake) and any(value for value in (wake or {}).values())


def wake_due(wake: dict[str, Any] | None, price: Decimal, now: datetime) -> bool:
    if not wake:
        return False
    if wake.get("every_candle"):
        return True
    below, above, at = wake.get("below"), wake.get("above"), wake.get("at")
    if below is not None and price <= Decimal(below):
        return True
    if above is not None and price >= Decimal(above):
        return True
    return at is not None and now >= datetime.fromisoformat(at)


class Decider:
    def __init__(self, tick: BotTick) -> None:
        from autogrid.engine.step import TickAborted  # the tick module imports this one

        self._aborted = TickAborted
        self.tick = tick
        bot = tick.bot
        assert bot is not None and tick.market is not None
        self.state: BotState = load_state(bot)
        self.timeframe = candle_timeframe(strategy_data(bot))
        cached = self._cached()
        self.strategy = cached.strategy
        self.schedule = cached.schedule

    def _cached(self) -> CachedStrategy:
        tick = self.tick
        bot = tick.bot
        assert bot is not None and tick.market is not None
        cached = tick.ctx.strategies.get(bot.id)
        if cached is None or cached.config != bot.config:
            # The bot's own typed parameters (the backtest's parser refuses what it cannot
            # replay, e.g. DCA schedules; a running bot is not a replay).
            params = stored_params(bot)
            strategy = strategy_from_params(params, tick.market)
            cached = CachedStrategy(dict(bot.config), strategy, recurring_buy_of(params))
            tick.ctx.strategies[bot.id] = cached
        return cached

    @classmethod
    async def of(cls, tick: BotTick) -> Decider:
        """The decider, or the bot failed (and the tick aborted) if its configuration no longer
        fits the market (the exchange changed its rules since the bot was validated)."""
        try:
            return cls(tick)
        except StrategyConfigError as error:
            from autogrid.engine.step import TickAborted

            await tick.fail(f"the configuration no longer fits the market: {error}")
            raise TickAborted(str(error)) from None

    def due_slot(self) -> DueSlot | None:
        """The recurring-buy slot to settle now, on the wall clock (never in a replay)."""
        tick = self.tick
        if self.schedule is None or (tick.venue is not None and tick.venue.replay):
            return None
        started_at = tick.bot.started_at if tick.bot is not None else None
        return due_slot(*self.schedule, self.state, started_at, tick.ctx.clock())

    def next_slot_at(self) -> datetime | None:
        """When the next recurring buy falls (the tick asks to run then)."""
        tick = self.tick
        if self.schedule is None or tick.bot is None:
            return None
        now = tick.ctx.clock()
        return next_runs(self.schedule[0], self.state, tick.bot.started_at, now, count=1)[0]

    async def note_price(self, price: Decimal) -> None:
        """Remember the latest price (stats and performance samples mark positions with it)."""
        text = str(price)
        if self.state.last_price != text:
            self.state.last_price = text
            self.tick.state_patch.last_price = text

    async def decide_if_needed(self, moment: Moment) -> bool:
        """Decide if anything calls for it (``moment()`` gives the decision's time and price,
        asked only when needed), persist, act. True while the bot still runs afterwards."""
        tick = self.tick
        manager = tick.orders
        bot = tick.bot
        assert bot is not None and tick.market is not None and tick.venue is not None
        live = await tick.current_live()
        waiting = await tick.waiting_fills()
        state = self.state
        first = state.strategy is None
        changed = tags_of(live) != state.live_tags
        due = self.due_slot()
        needed = (
            first or waiting > 0 or changed or due is not None or self.strategy.candles_needed() > 0
        )
        when: tuple[datetime, Decimal] | None = None
        wake = state.wake
        if not needed and wake_is_set(wake):
            when = await moment()
            needed = wake_due(wake, when[1], when[0])
        if not needed:
            return True
        now, price = when or await moment()
        await tick.lease.keep()
        base, quote = split_symbol(bot.symbol)
        async with tick.database.session_scope() as session:
            live = list(await repo.live_orders(session, bot.id))
            inbox = await read_inbox(session, bot.id, base, quote)
        snapshot = await build_snapshot(
            tick.venue.connector, tick.market, self.strategy, live, now, price, self.timeframe
        )
        try:
            current = (
                self.strategy.initial_state(snapshot)
                if first
                else self.strategy.load_state(state.strategy or {})
            )
            decision = self.strategy.decide(snapshot, current, inbox.fills)
        except Exception as error:  # any bug in a strategy stops its bot, never the worker
            await self._strategy_failed(error)
        persisted = await persist_decision(
            manager, tick.lease.owner, self.strategy, tick.market, snapshot, decision, inbox, due
        )
        if not persisted.saved:
            await tick.reload()
            return False
        self.state = persisted.state
        tick.state_patch.last_price = None  # the decision stored its own
        if persisted.trip_code is not None:
            count_trip(persisted.trip_code)
            await tick.reload()
            await tick.run_halted()  # what the decision placed is denied, never sent
            return False
        tick.set_live(await execute_pending(manager, await tick.current_live()))
        if persisted.stopped:
            from autogrid.engine.stopping import run_stop

            await tick.reload()
            await run_stop(tick)
            return False
        return True

    async def _strategy_failed(self, error: Exception) -> NoReturn:
        bot = self.tick.bot
        logger.exception("bot %s: the strategy raised", bot.id if bot else "?")
        await self.tick.fail(f"strategy error: {type(error).__name__}: {error}")
        raise self._aborted("the strategy raised") from error
