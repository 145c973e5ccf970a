"""One step of one bot: sync -> decide -> record -> execute, by status.

Whoever runs a step holds the bot's lease around it (``scheduling.ticking``). By status:

- starting: open the paper account if needed, full reconciliation, report strange exchange
  orders, then running (and a first decision at once);
- running: sync the live orders and fills, send what is committed, then decide (a replay steps
  candle by candle, see replay.py, and stops itself once it has played every stored candle,
  see replay_end.py) and act;
- paused: keep the books in sync, no decisions;
- halted: keep the books in sync, never send a NEW order (they are denied), cancel open orders if
  the bot's breaker settings say so (halted.py);
- stopping: cancel (and sell the base) as the stop request asks, then stopped (stopping.py).

The step is the only orchestrator. Its phases take what they need (a ``StepScope``) and return
what happened; the step alone decides what comes next, and it owns every transaction that writes
the bot: its status changes, each decision, the stop's sale, the report of exchange orders that
are not ours (the phases write in them and flush). The one other owner is deliberate: the order
manager (``execution.transitions``) commits each order's own transition before the network call
it leads to (the write-ahead rule: a client order id is committed before it is sent), and each
answer as it comes back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.bots.state import StatePatch, load_state
from autogrid.engine import repository
from autogrid.engine.booking import book_waiting_fills
from autogrid.engine.books import Books
from autogrid.engine.context import RuntimeContext
from autogrid.engine.deciding import Decider, Moment, StrategyFailed, at_price
from autogrid.engine.guard import breaker_of, can_halt, count_trip, fail, halt, trip_for
from autogrid.engine.halted import keep_halted
from autogrid.engine.leasing import LeaseKeeper, LeaseLost
from autogrid.engine.recording import record_decision
from autogrid.engine.replay import Steps, catch_up, replay_moments
from autogrid.engine.replay_end import finish_replay
from autogrid.engine.scope import StepAborted, StepScope, order_manager_for
from autogrid.engine.starting import begin_run, carried_over, open_paper_account
from autogrid.engine.stopping import (
    GiveUp,
    Sale,
    StopAt,
    cancel_sales,
    give_up_sale,
    mark_stopped_in,
    record_sale,
    run_stop,
    send_sale,
)
from autogrid.engine.wrapup import StepEnd
from autogrid.exchanges.errors import AuthenticationFailed, ExchangeError
from autogrid.exchanges.paper.errors import NoPriceYet
from autogrid.exchanges.venue import Venue, VenueUnavailable, never_opened, open_venue
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.reconcile import execute_pending, report_unknown_orders
from autogrid.models import Bot, BotStatus
from autogrid.risk import repository as kill_switches
from autogrid.trading.risk import TripCode
from autogrid.trading.strategies.base import StrategyConfigError

logger = logging.getLogger(__name__)

TICKING_STATUSES = frozenset(
    {BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.HALTED, BotStatus.STOPPING}
)
_SOON = timedelta(seconds=1)


class BotStep:
    def __init__(self, ctx: RuntimeContext, bot_id: uuid.UUID, lease: LeaseKeeper) -> None:
        self.ctx = ctx
        self.bot_id = bot_id
        self.lease = lease
        self.database = ctx.database
        self.books = Books(bot_id, lease)
        self.bot: Bot | None = None
        self.venue: Venue | None = None
        self.orders: OrderManager | None = None  # the latest opened (its log is read at the end)
        self.scope: StepScope | None = None
        self.next_at: datetime | None = None
        self.patch = StatePatch()
        self.bot_type: str | None = None
        self.status: str | None = None
        self.dirty = False  # the step ended half-way: the next compares with the exchange again
        self.fills_booked = False  # the stop booked every fill seen, committing ``stopped``

    # --- the boundary: what runs the step calls -------------------------------------------

    async def run(self) -> None:
        """The whole step. Failures that end it early are handled here (the bot failed, or
        retried soon); only what is not the bot's own trouble propagates."""
        try:
            await self._run()
        except LeaseLost:
            logger.warning("bot %s: lease lost mid-tick; stopped touching it", self.bot_id)
        except StepAborted as why:
            logger.info("bot %s: tick ended early: %s", self.bot_id, why)
            self.dirty = True
        except AuthenticationFailed as error:
            # A refused key does not heal by retrying: a human must act.
            await self._fail(f"the exchange refused the API key: {error}")
            self.dirty = True
        except ExchangeError as error:
            # Counted for the breaker (consecutive errors) when the step wraps up; again soon.
            logger.warning("bot %s: exchange call failed: %s", self.bot_id, error)
            self.soon(timedelta(seconds=5))
            self.dirty = True
        except BaseException:
            self.dirty = True
            raise

    async def reconcile(self, bot: Bot) -> None:
        """The periodic reconciliation: the books against the exchange in full, nothing sent."""
        self.bot = bot
        scope = await self._open()
        await self._report(await scope.books.keep(bot, full=True))
        await book_waiting_fills(scope)

    async def settle(self) -> None:
        """After ``run``, however it ended: a key the exchange refused fails the bot; an intent
        it kept refusing halts it."""
        log = self.orders.log if self.orders is not None else None
        if log is not None and log.fatal:
            await self._fail(log.fatal)
        elif log is not None and log.abandoned:
            await self._trip(log.abandoned[0], TripCode.ORDER_NOT_PLACED)

    def end(self) -> StepEnd:
        """What to write when the lease goes back (the exchange calls are taken: call once)."""
        calls = self.venue.connector.take_calls() if self.venue is not None else []
        if self.dirty:
            self.patch.books_dirty = True
        elif self.books.found_clean:
            self.patch.books_dirty = False
        errors_before = breaker_of(load_state(self.bot)).consecutive_errors if self.bot else 0
        return StepEnd(calls, self.next_at, self.patch, errors_before)

    def soon(self, delay: timedelta = _SOON) -> None:
        moment = self.ctx.clock() + delay
        self.next_at = moment if self.next_at is None else min(self.next_at, moment)

    # --- by status ------------------------------------------------------------------------

    async def _run(self) -> None:
        bot = self.lease.bot
        if bot is None or bot.status not in TICKING_STATUSES:
            return
        killed = await self.ctx.kill_switch()
        self.bot, self.status, self.bot_type = bot, bot.status, bot.type
        if killed is not None and can_halt(bot):
            await self._halt_killed()
            bot = await self._reload()
        if bot.status == BotStatus.STARTING:
            await self._start(bot)
            bot = await self._reload()
        if bot.status == BotStatus.HALTED and never_opened(bot):
            return  # halted before its start ran: nothing rests anywhere, nothing to keep
        if bot.status == BotStatus.STOPPING and never_opened(bot):
            # Stopped while its start still waited for a tick: a paper bot with no account
            # has placed nothing, and its stop is over at once (opening the venue failed the
            # bot: "no paper account yet").
            async with self.database.session_scope() as session:
                self.fills_booked = await mark_stopped_in(session, self.bot_id, self.ctx.clock())
            self.status = BotStatus.STOPPED
            return
        scope = await self._open()
        if bot.status == BotStatus.RUNNING:
            await self._running(scope)
        elif bot.status == BotStatus.PAUSED:
            await self._report(await scope.books.keep(scope.bot))
            scope.books.set_live(await execute_pending(scope.orders, scope.books.live))
        elif bot.status == BotStatus.HALTED:
            await self._halted(scope)
        elif bot.status == BotStatus.STOPPING:
            await self._stop(scope)
        if self.status != BotStatus.RUNNING and not self.fills_booked:
            # No decision absorbs its fills: booked now.
            await book_waiting_fills(self._scope())
        self._schedule_unknown_checks()

    async def _start(self, bot: Bot) -> None:
        self.ctx.forget(bot.id)
        if bot.paper is not None:
            async with self.database.session_scope() as session:
                await open_paper_account(session, bot.id, self.ctx.clock())
            bot = await self._reload()
        scope = await self._open()
        await self._report(await scope.books.keep(scope.bot, full=True))
        scope.books.set_live(await execute_pending(scope.orders, scope.books.live))
        fresh = not scope.books.live
        kept = carried_over(bot, scope.market) if fresh else None
        async with self.database.session_scope() as session:
            await begin_run(session, bot.id, fresh=fresh, kept=kept, now=self.ctx.clock())

    async def _running(self, scope: StepScope) -> None:
        await self._report(await scope.books.keep(scope.bot))
        scope.books.set_live(await execute_pending(scope.orders, scope.books.live))
        decider = await self._decider(scope)
        venue = scope.venue
        if venue.paper is not None and venue.replay:
            await self._replay(scope, decider)
            return
        if venue.paper is not None:
            await catch_up(venue.paper, scope.orders)
        ticker = await venue.connector.fetch_ticker(scope.bot.symbol)
        self._note_price(decider, ticker.last)
        await self._decide(decider, at_price(self.ctx.clock(), ticker.last))
        bot = self.bot
        slot = decider.next_slot_at(bot, self.ctx.clock()) if bot is not None else None
        if slot is not None:
            # Beat's claim sends the tick that buys it, on time whatever the tick interval.
            self.soon(max(slot - self.ctx.clock(), timedelta(0)))

    async def _replay(self, scope: StepScope, decider: Decider) -> None:
        paper = scope.venue.paper
        assert paper is not None
        steps = Steps(self.ctx.replay_marks.get(self.bot_id))
        moments = replay_moments(
            paper,
            scope.orders,
            steps,
            max_steps=self.ctx.options.replay_steps_per_tick,
            keep_lease=self.lease.keep,
        )
        first = True
        async with aclosing(moments):
            async for moment in moments:
                try:
                    going = await self._decide(decider, moment)
                except NoPriceYet:
                    if not first:
                        raise
                    going = True  # nothing matched yet: the first revealed candle decides first
                first = False
                if not going:
                    break
        if steps.mark is not None:
            self.ctx.replay_marks[self.bot_id] = steps.mark
        if steps.more:
            self.soon(timedelta(0))
        if steps.ended:
            last = await paper.matched_until()
            async with self.database.session_scope() as session:
                stopping = await finish_replay(session, self.bot_id, last, self.ctx.clock())
            if stopping:
                self.soon(timedelta(0))  # the stop itself, at once
            return
        if steps.stepped:
            # Stats and samples mark the position at the last price the bot reached.
            self._note_price(decider, (await paper.fetch_ticker(scope.bot.symbol)).last)

    async def _stop(self, scope: StepScope) -> None:
        """One step of the stop (stopping.py); the bot row's writes it asks for, committed here."""
        await self._report(await scope.books.keep(scope.bot))
        move = await run_stop(scope)
        if isinstance(move, Sale):
            async with self.database.session_scope() as session:
                sold = await record_sale(
                    session, scope.orders, scope.market, move, self.ctx.clock()
                )
            scope.orders.count(sold.outcomes)
            move = StopAt.DONE if sold.over else await send_sale(scope)
        elif isinstance(move, GiveUp):
            async with self.database.session_scope() as session:
                await give_up_sale(session, self.bot_id, move, self.ctx.clock())
            move = await cancel_sales(scope)
        if move is not StopAt.DONE:
            self.soon()
            return
        async with self.database.session_scope() as session:
            self.fills_booked = await mark_stopped_in(session, self.bot_id, self.ctx.clock())
        self.status = BotStatus.STOPPED

    # --- one decision: propose -> vet and record (one transaction) -> execute -------------

    async def _decide(self, decider: Decider, moment: Moment) -> bool:
        """Decide if anything calls for it, record, act. True while the bot still runs."""
        scope = self._scope()
        try:
            proposal = await decider.propose(scope, moment)
        except StrategyFailed as failure:
            logger.exception("bot %s: the strategy raised", self.bot_id)
            await self._fail(str(failure))
            raise StepAborted("the strategy raised") from failure.__cause__
        if proposal is None:
            return True
        async with self.database.session_scope() as session:
            persisted = await record_decision(
                session, scope.orders, self.lease.owner, decider.strategy, scope.market, proposal
            )
        scope.orders.count(persisted.outcomes)
        if not persisted.saved:
            await self._reload()
            return False
        decider.state = persisted.state
        self.patch.last_price = None  # the decision stored its own
        if persisted.trip_code is not None:
            count_trip(persisted.trip_code)
            await self._reload()
            await self._halted(self._scope())  # what the decision placed is denied, never sent
            return False
        books = scope.books
        books.set_live(await execute_pending(scope.orders, await books.current_live()))
        if persisted.stopped:
            await self._reload()
            await self._stop(self._scope())
            return False
        return True

    async def _decider(self, scope: StepScope) -> Decider:
        """The decider, or the bot failed (and the step aborted) if its configuration no longer
        fits the market (the exchange changed its rules since the bot was validated)."""
        try:
            return Decider(self.ctx.strategies, scope.bot, scope.market)
        except StrategyConfigError as error:
            await self._fail(f"the configuration no longer fits the market: {error}")
            raise StepAborted(str(error)) from None

    def _note_price(self, decider: Decider, price: Decimal) -> None:
        text = decider.note_price(price)
        if text is not None:
            self.patch.last_price = text

    # --- the venue, the order manager and the market rules, once per step -----------------

    async def _open(self) -> StepScope:
        bot = self.bot
        assert bot is not None
        try:
            venue = await open_venue(self.ctx, bot)
        except VenueUnavailable as error:
            await self._fail(str(error))
            raise StepAborted(str(error)) from None
        self.venue = venue
        # A stopped or failed bot (its periodic reconciliation) wants nothing placed again;
        # a stopping one wants its stop sell (the other NEW orders are withdrawn).
        places = bot.status in TICKING_STATUSES
        orders = order_manager_for(self.ctx, venue, bot, places_orders=places)
        self.orders = orders
        self.books.bind(orders, venue)
        try:
            market = await venue.connector.market(bot.symbol)
        except ExchangeError as error:
            self.soon(timedelta(seconds=5))
            raise StepAborted(f"market rules unavailable: {error}") from None
        self.scope = StepScope(
            bot, venue, orders, market, self.books, self.lease, self.database, self.ctx.clock
        )
        return self.scope

    def _scope(self) -> StepScope:  # the scope with the bot as last read
        assert self.scope is not None and self.bot is not None, "_open() first"
        if self.scope.bot is not self.bot:
            self.scope = replace(self.scope, bot=self.bot)
        return self.scope

    async def _report(self, strangers: list[str]) -> None:
        """The exchange's open orders that are not ours reported (once each) to the owner."""
        if strangers:
            async with self.database.session_scope() as session:
                await report_unknown_orders(session, self.bot_id, strangers, self.ctx.clock())

    async def _halted(self, scope: StepScope) -> None:
        await self._report(await scope.books.keep(scope.bot))
        await keep_halted(scope)

    def _schedule_unknown_checks(self) -> None:
        spacing = timedelta(seconds=self.ctx.options.policy.spacing_seconds)
        wait = self.books.next_look(self.ctx.clock(), spacing)
        if wait is not None:
            self.soon(wait)

    # --- the bot's status changes, each its own transaction -------------------------------

    async def _reload(self) -> Bot:
        async with self.database.session_scope() as session:
            bot = await repository.get_bot(session, self.bot_id)
        if bot is None:
            raise StepAborted("the bot was deleted")
        self.bot, self.status = bot, bot.status
        return bot

    async def _halt_killed(self) -> None:
        """Halt for the kill switch the process's cached read saw engaged, read again in the
        halting transaction: released since (the cache is up to a second old), the bot is left
        as it is (an owner's reset right after the release was halted again)."""

        async def change(session: AsyncSession, bot: Bot) -> bool:
            reason = await kill_switches.kill_switch_engaged(session)
            return reason is not None and await halt(session, bot, f"kill switch: {reason}")

        await self._change_bot(change, TripCode.KILL_SWITCH)

    async def _trip(self, reason: str, code: str) -> None:
        now = self.ctx.clock()
        await self._change_bot(lambda session, bot: trip_for(session, bot, reason, now), code)

    async def _fail(self, message: str) -> None:
        await self._change_bot(lambda session, bot: fail(session, bot, message))

    async def _change_bot(
        self, change: Callable[[AsyncSession, Bot], Awaitable[bool]], trip: str | None = None
    ) -> None:
        """``change`` applied to the locked bot row; a trip counted once it is committed."""
        async with self.database.session_scope() as session:
            bot = await bot_rows.lock_bot_row(session, self.bot_id)
            changed = bot is not None and await change(session, bot)
        if changed and trip is not None:
            count_trip(trip)
