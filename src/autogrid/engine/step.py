"""One tick of one bot: lease -> sync -> decide -> persist -> execute -> release.

``tick_bot`` is what every task calls (idempotent: a redelivered or duplicated tick that cannot
take the lease does nothing; one that can just runs a normal tick). By status:

- starting: open the paper account if needed, full reconciliation, report strange exchange
  orders, then running (and a first decision at once);
- running: sync the live orders and fills, send what is committed, then decide (a replay steps
  candle by candle, see paper_steps.py, and stops itself once it has played every stored candle,
  see replay_end.py) and act;
- paused: keep the books in sync, no decisions;
- halted: keep the books in sync, never send a NEW order (they are denied), cancel open orders if
  the bot's breaker settings say so;
- stopping: cancel (and sell the base) as the stop request asks, then stopped.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from autogrid.backtest.factory import strategy_from_params
from autogrid.bots.service import mark_running, stored_params
from autogrid.bots.state import StatePatch, StopRequest, load_state, store_state
from autogrid.core.db import Database
from autogrid.engine import repository
from autogrid.engine.context import RuntimeContext
from autogrid.engine.deciding import Decider, Moment
from autogrid.engine.guard import (
    TripCode,
    can_halt,
    cancels_on_trip,
    count_trip,
    fail,
    halt,
    trip_for,
)
from autogrid.engine.replay import catch_up, step_replay
from autogrid.engine.replay_end import finish_replay
from autogrid.engine.stopping import run_stop
from autogrid.engine.wrapup import finish
from autogrid.exchanges.errors import AuthenticationFailed, ExchangeError
from autogrid.exchanges.types import MarketRules
from autogrid.exchanges.venue import Venue, VenueUnavailable, ensure_paper_account, open_venue
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import BotRef
from autogrid.execution.reconcile import (
    execute_pending,
    load_live,
    report_unknown_orders,
    sync_orders,
)
from autogrid.models import Bot, BotStatus
from autogrid.observability.metrics import BOT_TICK_SECONDS
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, not_before
from autogrid.scheduling.lease import Lease, LeaseLost
from autogrid.trading.orders import OrderStatus, on_denied
from autogrid.trading.strategies.base import StrategyConfigError

logger = logging.getLogger(__name__)

TICKING_STATUSES = frozenset(
    {BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED, BotStatus.HALTED, BotStatus.STOPPING}
)
_SOON = timedelta(seconds=1)
# What of the bot's state belongs to one run only, and what to the strategy's own memory.
_PER_RUN_FIELDS = frozenset({"stop_sell"})
_STRATEGY_FIELDS = frozenset({"strategy", "wake", "live_tags", "decided_until"})


class TickAborted(Exception):
    """The tick cannot go on (the bot failed, or its status changed under it)."""


@dataclass(slots=True)
class TickResult:
    ran: bool  # False: the lease was held elsewhere, or the bot does not tick
    status: str | None = None


async def tick_bot(ctx: RuntimeContext, bot_id: uuid.UUID) -> TickResult:
    lease = Lease(ctx, bot_id)
    if not await lease.acquire():
        return TickResult(False)
    started = time.perf_counter()
    tick = BotTick(ctx, bot_id, lease)
    lease.start_heartbeat()
    try:
        await tick.run()
    except LeaseLost:
        logger.warning("bot %s: lease lost mid-tick; stopped touching it", bot_id)
    except TickAborted as why:
        logger.info("bot %s: tick ended early: %s", bot_id, why)
        tick.books_dirty()
    except AuthenticationFailed as error:
        # A refused key does not heal by retrying: a human must act.
        await tick.fail(f"the exchange refused the API key: {error}")
        tick.books_dirty()
    except ExchangeError as error:
        # Counted for the breaker (consecutive errors) when the tick wraps up; try again soon.
        logger.warning("bot %s: exchange call failed: %s", bot_id, error)
        tick.soon(timedelta(seconds=5))
        tick.books_dirty()
    except BaseException:
        tick.books_dirty()
        raise
    finally:
        await lease.stop_heartbeat()
        if tick.manager is not None and tick.manager.log.fatal:
            await tick.fail(tick.manager.log.fatal)  # a create refused for the key itself
        elif tick.manager is not None and tick.manager.log.abandoned:
            # An intent the exchange kept refusing: the bot cannot do what it is asked.
            await tick.trip(tick.manager.log.abandoned[0], TripCode.ORDER_NOT_PLACED)
        await tick.wrap_up()
        if tick.bot_type is not None:
            BOT_TICK_SECONDS.labels(tick.bot_type).observe(time.perf_counter() - started)
    return TickResult(True, tick.status)


class BotTick:
    def __init__(self, ctx: RuntimeContext, bot_id: uuid.UUID, lease: Lease) -> None:
        self.ctx = ctx
        self.bot_id = bot_id
        self.lease = lease
        self.bot: Bot | None = None
        self.venue: Venue | None = None
        self.manager: OrderManager | None = None
        self.market: MarketRules | None = None
        self.next_at: datetime | None = None
        self.state_patch = StatePatch()
        self.bot_type: str | None = None
        self.status: str | None = None
        # The bot's non-terminal orders, as last read, and the manager's writes at that time.
        self.live: list[OrderView] = []
        self.live_writes = -1
        self.inbox_waiting = 0
        self.inbox_writes = -1

    @property
    def database(self) -> Database:
        return self.ctx.database

    def soon(self, delay: timedelta = _SOON) -> None:
        moment = self.ctx.clock() + delay
        self.next_at = moment if self.next_at is None else min(self.next_at, moment)

    async def reload(self) -> Bot:
        async with self.database.session_scope() as session:
            bot = await repository.get_bot(session, self.bot_id)
        if bot is None:
            raise TickAborted("the bot was deleted")
        self.bot, self.status = bot, bot.status
        return bot

    async def wrap_up(self) -> None:
        """Breaker bookkeeping and the lease back (see wrapup.py); runs however the tick ended."""
        if not self.lease.held:
            return
        calls = self.venue.connector.take_calls() if self.venue is not None else []
        saved = (load_state(self.bot).breaker if self.bot else None) or {}
        errors_before = int(saved.get("consecutive_errors", 0))
        await finish(
            self.ctx,
            self.lease.owner,
            self.bot_id,
            calls,
            self.next_at,
            self.state_patch,
            errors_before=errors_before,
        )

    async def run(self) -> None:
        bot = self.lease.bot
        if bot is None or bot.status not in TICKING_STATUSES:
            return
        killed = await self.ctx.kill_switch()
        self.bot, self.status, self.bot_type = bot, bot.status, bot.type
        if killed is not None and can_halt(bot):
            await self.halt(f"kill switch: {killed}", "kill_switch")
            bot = await self.reload()
        if bot.status == BotStatus.STARTING:
            await self.start()
            bot = await self.reload()
        await self.open()
        if bot.status == BotStatus.RUNNING:
            await self.run_running()
        elif bot.status == BotStatus.PAUSED:
            await self.keep_books()
            self.set_live(await execute_pending(self.orders, self.live))
        elif bot.status == BotStatus.HALTED:
            await self.run_halted()
        elif bot.status == BotStatus.STOPPING:
            await run_stop(self)
        self.schedule_unknown_checks()

    # --- pieces ---------------------------------------------------------------------------

    @property
    def orders(self) -> OrderManager:
        assert self.manager is not None, "open() first"
        return self.manager

    async def open(self) -> None:
        """The venue, the order manager and the market rules, once per tick."""
        bot = self.bot
        assert bot is not None
        try:
            self.venue = await open_venue(self.ctx, bot)
        except VenueUnavailable as error:
            await self.fail(str(error))
            raise TickAborted(str(error)) from None
        ref = BotRef(
            bot.id,
            bot.user_id,
            bot.exchange,
            bot.symbol,
            replay=self.venue.replay,
            # A stopped or failed bot (its periodic reconciliation) wants nothing placed again;
            # a stopping one wants its stop sell (the other NEW orders are withdrawn).
            places_orders=bot.status in TICKING_STATUSES,
        )
        self.manager = OrderManager(
            self.database,
            self.venue.connector,
            ref,
            policy=self.ctx.options.policy,
            clock=self.ctx.clock,
        )
        try:
            self.market = await self.venue.connector.market(bot.symbol)
        except ExchangeError as error:
            self.soon(timedelta(seconds=5))
            raise TickAborted(f"market rules unavailable: {error}") from None

    async def keep_books(self, *, full: bool = False) -> None:
        """Bring the bot's orders in line with the exchange (reconcile.sync_orders)."""
        await self.lease.keep()
        if self.lease.live is not None and self.orders.writes == 0:
            # Read with the lease, and nothing written since.
            live, self.inbox_waiting = self.lease.live, self.lease.inbox_waiting
            self.lease.live = None
        else:
            async with self.database.session_scope() as session:
                live = await repo.live_order_rows(session, self.bot_id)
                self.inbox_waiting = await repo.inbox_size(session, self.bot_id)
        self.inbox_writes = self.orders.writes
        dirty = bool(self.bot and load_state(self.bot).books_dirty)
        # A paper account changes only through this bot's ticks: after a tick that ended
        # cleanly, its orders are exactly ours and asking it again would tell nothing new.
        trusted = (
            self.venue is not None
            and self.venue.paper is not None
            and not self.lease.taken_over
            and not dirty
        )
        found = await sync_orders(self.orders, full=full, live=live, ask_exchange=not trusted)
        if dirty and found.exchange_reachable:
            self.state_patch.books_dirty = False
        self.set_live(found.live)
        if found.unknown_exchange_orders:
            async with self.database.session_scope() as session:
                await report_unknown_orders(
                    session, self.bot_id, found.unknown_exchange_orders, self.ctx.clock()
                )

    async def start(self) -> None:
        bot = self.bot
        assert bot is not None
        self.ctx.forget(bot.id)
        if bot.paper is not None:
            async with self.database.session_scope() as session:
                locked = await repository.lock_bot(session, bot.id)
                if locked is None or locked.status != BotStatus.STARTING:
                    raise TickAborted("no longer starting")
                await ensure_paper_account(session, locked, self.ctx.clock())
            bot = await self.reload()
        await self.open()
        await self.keep_books(full=True)
        self.set_live(await execute_pending(self.orders, self.live))
        fresh = not self.live
        kept = carried_over(bot, self.market) if fresh else None
        async with self.database.session_scope() as session:
            locked = await repository.lock_bot(session, bot.id)
            if locked is None or locked.status != BotStatus.STARTING:
                raise TickAborted("no longer starting")
            dropped = set(_PER_RUN_FIELDS)
            if fresh:
                # Nothing of the last run rests on the exchange: the strategy starts afresh
                # (a grid re-lays its ladder); the ledger keeps the bot's whole history.
                dropped |= _STRATEGY_FIELDS
            state = load_state(locked).model_copy(update=dict.fromkeys(dropped))
            if kept is not None:
                state.strategy = kept
            store_state(locked, state)
            await mark_running(session, locked)
            await repository.schedule_now(session, bot.id, self.ctx.clock())

    async def run_running(self) -> None:
        await self.keep_books()
        self.set_live(await execute_pending(self.orders, self.live))
        decider = await Decider.of(self)
        venue = self.venue
        assert venue is not None
        symbol = self.orders.bot.symbol
        if venue.paper is not None and venue.replay:
            steps = await step_replay(
                venue.paper,
                self.orders,
                decider.decide_if_needed,
                max_steps=self.ctx.options.replay_steps_per_tick,
                keep_lease=self.lease.keep,
                mark=self.ctx.replay_marks.get(self.bot_id),
            )
            if steps.mark is not None:
                self.ctx.replay_marks[self.bot_id] = steps.mark
            if steps.more:
                self.soon(timedelta(0))
            if steps.ended:
                last = await venue.paper.matched_until()
                if await finish_replay(self.database, self.bot_id, last, self.ctx.clock()):
                    self.soon(timedelta(0))  # the stop itself, at once
                return
            if steps.stepped:
                # Stats and samples mark the position at the last price the bot reached.
                await decider.note_price((await venue.paper.fetch_ticker(symbol)).last)
            return
        if venue.paper is not None:
            await catch_up(venue.paper, self.orders)
        ticker = await venue.connector.fetch_ticker(symbol)
        await decider.note_price(ticker.last)
        await decider.decide_if_needed(_at(self.ctx.clock(), ticker.last))
        slot = decider.next_slot_at()
        if slot is not None:
            # Beat's claim sends the tick that buys it, on time whatever the tick interval.
            self.soon(max(slot - self.ctx.clock(), timedelta(0)))

    async def run_halted(self) -> None:
        await self.keep_books()
        for order in self.live:
            if order.status == OrderStatus.NEW:
                await self.orders.apply(
                    order.id, lambda state, _: on_denied(state, "circuit breaker tripped")
                )
        bot = self.bot
        assert bot is not None
        if cancels_on_trip(bot):
            for order in await self.current_live():
                await self.orders.request_cancel(order.id)
        self.set_live(await execute_pending(self.orders, await self.current_live()))

    def schedule_unknown_checks(self) -> None:
        """Tick again when an in-flight order is due for its next lookup, or a replacement for
        an order the exchange refused may be sent."""
        if any(order.status == OrderStatus.UNKNOWN for order in self.live):
            self.soon(timedelta(seconds=self.ctx.options.policy.spacing_seconds))
        now = self.ctx.clock()
        for order in self.live:
            due = not_before(order) if order.status == OrderStatus.NEW else None
            if due is not None:
                self.soon(max(due - now, timedelta(0)))

    async def halt(self, reason: str, code: str) -> None:
        async with self.database.session_scope() as session:
            bot = await repository.lock_bot(session, self.bot_id)
            halted = bot is not None and await halt(session, bot, reason)
        if halted:
            count_trip(code)

    async def trip(self, reason: str, code: str) -> None:
        async with self.database.session_scope() as session:
            bot = await repository.lock_bot(session, self.bot_id)
            tripped = bot is not None and await trip_for(session, bot, reason, self.ctx.clock())
        if tripped:
            count_trip(code)

    async def fail(self, message: str) -> None:
        async with self.database.session_scope() as session:
            bot = await repository.lock_bot(session, self.bot_id)
            if bot is not None:
                await fail(session, bot, message)

    def stop_request(self) -> StopRequest:
        bot = self.bot
        assert bot is not None
        return load_state(bot).stop_request or StopRequest()

    def books_dirty(self) -> None:
        """The tick ended half-way: the next one compares with the exchange again."""
        self.state_patch.books_dirty = True

    async def waiting_fills(self) -> int:
        """Fills recorded for the strategy and not seen by it yet."""
        if self.inbox_writes != self.orders.writes:
            async with self.database.session_scope() as session:
                self.inbox_waiting = await repo.inbox_size(session, self.bot_id)
            self.inbox_writes = self.orders.writes
        return self.inbox_waiting

    def set_live(self, rows: list[OrderView]) -> None:
        """``rows`` are fresh as of now (read after the manager's latest write)."""
        self.live, self.live_writes = rows, self.orders.writes

    async def current_live(self) -> list[OrderView]:
        if self.live_writes != self.orders.writes:
            self.set_live(await load_live(self.orders))
        return self.live


def carried_over(bot: Bot, market: MarketRules | None) -> dict[str, Any] | None:
    """The part of the last run's strategy state a fresh start keeps, for strategies that say
    (``restart_state``: a DCA bot's deal history and numbering); None for the others."""
    old = load_state(bot).strategy
    if not old or market is None:
        return None
    try:
        strategy = strategy_from_params(stored_params(bot), market)
    except StrategyConfigError:
        return None  # the bot fails at its first decision, saying why
    restart = getattr(strategy, "restart_state", None)
    kept: dict[str, Any] | None = restart(old) if restart is not None else None
    return kept


def _at(now: datetime, price: Decimal) -> Moment:
    async def moment() -> tuple[datetime, Decimal]:
        return now, price

    return moment
