"""Carrying out a stop: cancel what the request says, sell the base if asked, then stopped.

The request (the bot state's ``stop_request``, written by the API or by a strategy's StopBot) says
whether to cancel the open orders and whether to sell the base the bot bought. Cancels always go
through, whatever the breaker or the kill switch say. A bot stays ``stopping`` until every cancel
is confirmed (an order in flight is first resolved, then cancelled) and the sale is over.

A paper exchange moves only when its bot's ticks move it, so a stopping paper bot's tick moves
it too: its resting orders and the market sell fill as they would on an exchange. A replay that
has no candle left to fill the sell at cancels it and says so (the base stays held).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.bots.ledger import Ledger
from autogrid.bots.service import mark_stopped
from autogrid.bots.state import BotState, StopRequest, StopSell, load_state, store_state
from autogrid.engine import repository
from autogrid.engine.guard import breaker_of, limits_of
from autogrid.engine.replay import catch_up
from autogrid.engine.scope import StepAborted, StepScope
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.exchanges.errors import ExchangeError, MarketRuleViolation
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import OrderType, Side
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.execution.reconcile import execute_pending, load_live
from autogrid.models import Bot, BotStatus
from autogrid.orders import store as repo
from autogrid.orders.values import new_client_order_id, tag_of
from autogrid.risk import repository as kill_switches
from autogrid.trading import breaker as cb
from autogrid.trading.orders import OrderStatus, Outcome

logger = logging.getLogger(__name__)

STOP_SELL_TAG = "STOPSELL"
_S = OrderStatus


async def run_stop(scope: StepScope) -> bool:
    """One step of the stop; True once nothing is left to do but mark the bot stopped
    (``mark_stopped_in``), False while cancels or the sale are still under way."""
    manager = scope.orders
    request = load_state(scope.bot).stop_request or StopRequest()
    cancel = request.cancel_orders
    # A repeated stop may have dropped the sale: its sell is then cancelled like the rest.
    selling = request.sell_base
    await scope.books.keep(scope.bot)
    if scope.venue.paper is not None:
        try:
            await catch_up(scope.venue.paper, manager)
        except ExchangeError as error:
            # A live price source offline: the cancels still go through; matching waits.
            logger.info("bot %s: paper exchange not moved on: %s", scope.bot.id, error)
    for order in await load_live(manager):
        if (selling and tag_of(order) == STOP_SELL_TAG) or not (cancel or order.status == _S.NEW):
            continue
        if order.status in (_S.SUBMITTING, _S.UNKNOWN):
            async with scope.database.session_scope() as session:
                fresh = await repo.get_order(session, order.id)
                if fresh is not None and fresh.status in (_S.SUBMITTING, _S.UNKNOWN):
                    await manager.cancel_in(session, fresh, scope.clock())
        else:
            await manager.request_cancel(order.id)
    remaining = [
        o
        for o in await load_live(manager)
        if not (selling and tag_of(o) == STOP_SELL_TAG) and (cancel or o.status == _S.NEW)
    ]
    if remaining:
        return False
    return not selling or await sell_base(scope)


async def mark_stopped_in(session: AsyncSession, bot_id: uuid.UUID) -> None:
    """stopping -> stopped, in the caller's transaction (nothing if no longer stopping)."""
    bot = await bot_rows.lock_bot_row(session, bot_id)
    if bot is not None and bot.status == BotStatus.STOPPING:
        await mark_stopped(session, bot)


async def sell_base(scope: StepScope) -> bool:
    """Place (once) and follow a market sell of the bot's position; True once it is over."""
    manager = scope.orders
    # Read again: the stop's own earlier steps wrote the sale's progress in the bot state.
    async with scope.database.session_scope() as session:
        bot = await repository.get_bot(session, scope.bot.id)
    if bot is None:
        raise StepAborted("the bot was deleted")
    saved = load_state(bot).stop_sell or StopSell()
    if saved.order_id:
        return await _follow_sale(scope, saved)
    sale = await _plan_sale(scope, bot)
    if sale is None:
        return False
    async with scope.database.session_scope() as session:
        recorded = await _record_sale(session, manager, bot.id, sale, scope.clock())
    if recorded is None:
        return True  # no longer stopping
    created, message = recorded
    manager.count(created)
    if message is not None:
        return True
    await execute_pending(manager)
    return False


@dataclass(frozen=True, slots=True)
class _Sale:
    sell: Intent | None  # None: nothing to sell (``skipped`` says why)
    skipped: str | None
    price: Decimal


async def _plan_sale(scope: StepScope, bot: Bot) -> _Sale | None:
    """The sale of what the bot bought and still holds, rounded to the market; None while the
    exchange cannot tell the balance or the price."""
    market, connector = scope.market, scope.orders.connector
    position = Ledger.from_dict(load_state(bot).ledger).position
    try:
        balances = await connector.fetch_balance()
        price = (await connector.fetch_ticker(bot.symbol)).last
    except ExchangeError as error:
        logger.info("bot %s: cannot sell the base yet: %s", bot.id, error)
        return None
    held = balances[market.base].free if market.base in balances else Decimal(0)
    amount = min(position, held)
    try:
        request = prepare_order(
            market, Side.SELL, OrderType.MARKET, amount, None, new_client_order_id(), price
        )
    except MarketRuleViolation as error:
        return _Sale(None, f"nothing sold: {error}", price)
    return _Sale(
        Intent(STOP_SELL_TAG, Side.SELL, OrderType.MARKET, request.amount, None), None, price
    )


async def _record_sale(
    session: AsyncSession, manager: OrderManager, bot_id: uuid.UUID, sale: _Sale, now: datetime
) -> tuple[list[Outcome], str | None] | None:
    """The sell order written (or denied: kill switch, breaker) in the caller's transaction,
    with the sale's progress in the bot state; the outcomes and why nothing is sold, if so.
    None if the bot is no longer stopping."""
    locked = await bot_rows.lock_bot_row(session, bot_id)
    if locked is None or locked.status != BotStatus.STOPPING:
        return None
    state = load_state(locked)
    killed = await kill_switches.kill_switch_engaged(session)
    message = sale.skipped
    created: list[Outcome] = []
    if sale.sell is not None:
        check = cb.check_new_order(breaker_of(state), limits_of(locked), now, None, sale.price)
        if killed is not None or not check.allowed:
            reason = f"kill switch: {killed}" if killed else check.reason or "denied"
            _, created = manager.add_denied(session, sale.sell, reason, now)
            message = f"base not sold: {reason}"
        else:
            order, created = manager.add_order(session, sale.sell, now)
            state.stop_sell = StopSell(order_id=str(order.id))
            state.breaker = cb.record_order_sent(breaker_of(state), now).to_dict()
            store_state(locked, state)
    if message is not None:
        _skip_sale(session, locked, state, StopSell(order_id=None, skipped=message), now)
    return created, message


def _skip_sale(
    session: AsyncSession, locked: Bot, state: BotState, stop_sell: StopSell, now: datetime
) -> None:
    """The sale will not happen: say why in the bot state and the journal."""
    state.stop_sell = stop_sell
    store_state(locked, state)
    record_event(
        session,
        user_id=locked.user_id,
        bot_id=locked.id,
        type=EventType.STOP_SELL_SKIPPED,
        message=stop_sell.skipped or "",
        at=now,
    )


async def _follow_sale(scope: StepScope, saved: StopSell) -> bool:
    """The sale placed: over once its order is; given up (and cancelled) if no candle of a
    replay can fill it."""
    manager = scope.orders
    # Followed by its tag, not its id: a sell the exchange refused is placed again under a
    # new client order id (execution.replacement.place_again), and the stop waits for that one.
    live_sells = [o for o in await load_live(manager) if tag_of(o) == STOP_SELL_TAG]
    if not live_sells:
        return True
    if saved.skipped or await _replay_over(scope):
        if not saved.skipped:
            await _give_up_sale(scope, saved)
        # Every tick until it is cancelled: one still in flight is resolved first.
        for live_sell in live_sells:
            await manager.request_cancel(live_sell.id)
    await execute_pending(manager)
    return False


async def _replay_over(scope: StepScope) -> bool:
    """A replay whose stored candles are all matched: nothing will ever fill a resting order."""
    paper = scope.venue.paper
    if paper is None or not scope.venue.replay:
        return False
    return await paper.next_candle_close(scope.orders.bot.symbol) is None


async def _give_up_sale(scope: StepScope, saved: StopSell) -> None:
    """A stop sell no candle can fill is given up (then cancelled), with an event saying so."""
    now = scope.clock()
    paper = scope.venue.paper
    matched = await paper.matched_until() if paper is not None else now
    message = (
        f"base not sold: the replay has no candle after {matched.isoformat()} to sell at "
        "(import more candles to replay further)"
    )
    async with scope.database.session_scope() as session:
        locked = await bot_rows.lock_bot_row(session, scope.bot.id)
        if locked is None or locked.status != BotStatus.STOPPING:
            return
        given_up = saved.model_copy(update={"skipped": message})
        _skip_sale(session, locked, load_state(locked), given_up, now)
