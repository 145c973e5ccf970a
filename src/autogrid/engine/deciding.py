"""Asking the strategy, when there is anything to ask it about.

A decision is taken when the strategy has never decided, when fills await it, when one of its
orders vanished or ended (the live tags changed), when its wake condition holds, when signals are
queued for it (``signal_queue``; the queue is read only when the lease found it holding any), or
always for strategies that read candles. Otherwise the strategy contract promises ``decide``
would change nothing, and the tick skips it (and with it a snapshot and a transaction).

A strategy that raises stops only its own bot: ``StrategyFailed`` tells the step, which fails
the bot (status error, the exception recorded).

This module proposes; it writes nothing. The step records the proposal (``recording``), which
vets its orders (``trading.risk``), and hands what was recorded to execution.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeGuard

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.backtest.factory import strategy_from_params
from autogrid.bots.indicator_params import candle_timeframe
from autogrid.bots.ledger import split_symbol
from autogrid.bots.scheduled_buys import DueSlot, due_slot, next_runs, recurring_buy_of
from autogrid.bots.schemas import strategy_data
from autogrid.bots.service import stored_params
from autogrid.bots.state import BotState, load_state
from autogrid.engine import signal_queue
from autogrid.engine.context import CachedStrategy
from autogrid.engine.recording import Proposal, tags_of
from autogrid.engine.scope import StepScope
from autogrid.engine.snapshot import Inbox, build_snapshot, read_inbox
from autogrid.exchanges.types import MarketRules
from autogrid.models import Bot, Order
from autogrid.orders import store as repo
from autogrid.signals import deliveries
from autogrid.trading.strategies.signal_bot_state import TakesSignals

logger = logging.getLogger(__name__)


# When and at what price a decision would be taken; asked lazily (it may cost a query).
Moment = Callable[[], Awaitable[tuple[datetime, Decimal]]]


def _takes_signals(strategy: object) -> TypeGuard[TakesSignals]:
    """``isinstance(strategy, TakesSignals)``, checked once per strategy class: a runtime
    protocol check walks the protocol's members at every call (2% of a quiet tick)."""
    kind = type(strategy)
    known = _SIGNAL_TAKING.get(kind)
    if known is None:
        known = _SIGNAL_TAKING[kind] = isinstance(strategy, TakesSignals)
    return known


_SIGNAL_TAKING: dict[type, bool] = {}  # by strategy class


class StrategyFailed(Exception):
    """The strategy raised (its exception is the cause): its bot fails, the worker goes on."""


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
    """The bot's strategy (cached per process while its configuration holds) and the state it
    last decided with. Raises StrategyConfigError if the configuration no longer fits the market
    (the exchange changed its rules since the bot was validated)."""

    def __init__(
        self, cache: dict[uuid.UUID, CachedStrategy], bot: Bot, market: MarketRules
    ) -> None:
        self.state: BotState = load_state(bot)
        self.timeframe = candle_timeframe(strategy_data(bot))
        cached = cache.get(bot.id)
        if cached is None or cached.config != bot.config:
            # The bot's own typed parameters (the backtest's parser refuses what it cannot
            # replay, e.g. DCA schedules; a running bot is not a replay).
            params = stored_params(bot)
            strategy = strategy_from_params(params, market)
            cached = CachedStrategy(dict(bot.config), strategy, recurring_buy_of(params))
            cache[bot.id] = cached
        self.strategy = cached.strategy
        self.schedule = cached.schedule
        # May the bot's signal queue hold anything? None: as the lease found it (an EXISTS read
        # with it), then as last read. An empty queue is never queried.
        self.queue_may_hold: bool | None = None

    def due_slot(self, scope: StepScope) -> DueSlot | None:
        """The recurring-buy slot to settle now, on the wall clock (never in a replay)."""
        if self.schedule is None or scope.venue.replay:
            return None
        return due_slot(*self.schedule, self.state, scope.bot.started_at, scope.clock())

    def next_slot_at(self, bot: Bot, now: datetime) -> datetime | None:
        """When the next recurring buy falls (the step asks to run then)."""
        if self.schedule is None:
            return None
        return next_runs(self.schedule[0], self.state, bot.started_at, now, count=1)[0]

    def note_price(self, price: Decimal) -> str | None:
        """Remember the latest price (stats and performance samples mark positions with it);
        the text to store, or None if the state already has it."""
        text = str(price)
        if self.state.last_price == text:
            return None
        self.state.last_price = text
        return text

    async def _queued(self, scope: StepScope) -> list[deliveries.Queued]:
        """The signals queued for the bot, read only if the lease found some (or a full batch
        was read and more may wait): the decision they call for consumes what was read. One
        queued after the lease was taken waits for the next step (its tick is sent then)."""
        if self.queue_may_hold is None:
            self.queue_may_hold = scope.lease.signals_queued
        if not self.queue_may_hold:
            return []
        bot_id = scope.bot.id
        queued = await scope.orders.read(lambda session: deliveries.queued_for(session, bot_id))
        self.queue_may_hold = len(queued) >= deliveries.BATCH
        return queued

    async def propose(self, scope: StepScope, moment: Moment) -> Proposal | None:
        """The strategy's decision with what it was shown, or None if nothing calls for one
        (``moment()`` gives the decision's time and price, asked only when needed)."""
        live = await scope.books.current_live()
        waiting = await scope.books.waiting_fills()
        state = self.state
        first = state.strategy is None
        changed = tags_of(live) != state.live_tags
        due = self.due_slot(scope)
        taker = self.strategy if _takes_signals(self.strategy) else None
        queued = await self._queued(scope) if taker is not None else []
        needed = (
            first
            or waiting > 0
            or changed
            or due is not None
            or bool(queued)
            or self.strategy.candles_needed() > 0
        )
        when: tuple[datetime, Decimal] | None = None
        if not needed and wake_is_set(state.wake):
            when = await moment()
            needed = wake_due(state.wake, when[1], when[0])
        if not needed:
            return None
        now, price = when or await moment()
        await scope.lease.keep()
        bot = scope.bot
        base, quote = split_symbol(bot.symbol)

        async def rows_and_inbox(session: AsyncSession) -> tuple[list[Order], Inbox]:
            rows = list(await repo.live_orders(session, bot.id))
            return rows, await read_inbox(session, bot.id, base, quote)

        rows, inbox = await scope.orders.read(rows_and_inbox)
        snapshot = await build_snapshot(
            scope.venue.connector, scope.market, self.strategy, rows, now, price, self.timeframe
        )
        try:
            current = (
                self.strategy.initial_state(snapshot)
                if first
                else self.strategy.load_state(state.strategy or {})
            )
            if taker is None:
                return Proposal(
                    snapshot, self.strategy.decide(snapshot, current, inbox.fills), inbox, due
                )
            handed = signal_queue.hand_over(taker, current, queued, now)
            decision = self.strategy.decide(snapshot, handed.state, inbox.fills)
            decision, settled, own = signal_queue.take_outcomes(taker, decision, handed)
        except Exception as error:  # any bug in a strategy stops its bot, never the worker
            raise StrategyFailed(f"strategy error: {type(error).__name__}: {error}") from error
        return Proposal(snapshot, decision, inbox, due, settled, own)


def at_price(now: datetime, price: Decimal) -> Moment:
    """The moment of a live decision: now, at the ticker's last price."""

    async def moment() -> tuple[datetime, Decimal]:
        return now, price

    return moment
