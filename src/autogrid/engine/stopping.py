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
from decimal import Decimal
from typing import TYPE_CHECKING

from autogrid.bots.ledger import Ledger
from autogrid.bots.service import mark_stopped
from autogrid.bots.state import StopSell, load_state, store_state
from autogrid.engine import repository
from autogrid.engine.guard import breaker_of, limits_of
from autogrid.engine.replay import catch_up
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.exchanges.errors import ExchangeError, MarketRuleViolation
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import OrderType, Side
from autogrid.execution.order_writer import Intent
from autogrid.execution.reconcile import execute_pending, load_live
from autogrid.models import BotStatus
from autogrid.orders import store as repo
from autogrid.orders.values import new_client_order_id, tag_of
from autogrid.risk import repository as kill_switches
from autogrid.trading import breaker as cb
from autogrid.trading.orders import OrderStatus, Outcome

if TYPE_CHECKING:
    from autogrid.engine.step import BotTick

logger = logging.getLogger(__name__)

STOP_SELL_TAG = "STOPSELL"
_S = OrderStatus


async def run_stop(tick: BotTick) -> None:
    manager = tick.orders
    request = tick.stop_request()
    cancel = request.cancel_orders
    # A repeated stop may have dropped the sale: its sell is then cancelled like the rest.
    selling = request.sell_base
    await tick.keep_books()
    venue = tick.venue
    if venue is not None and venue.paper is not None:
        try:
            await catch_up(venue.paper, manager)
        except ExchangeError as error:
            # A live price source offline: the cancels still go through; matching waits.
            logger.info("bot %s: paper exchange not moved on: %s", tick.bot_id, error)
    for order in await load_live(manager):
        if (selling and tag_of(order) == STOP_SELL_TAG) or not (cancel or order.status == _S.NEW):
            continue
        if order.status in (_S.SUBMITTING, _S.UNKNOWN):
            async with tick.database.session_scope() as session:
                fresh = await repo.get_order(session, order.id)
                if fresh is not None and fresh.status in (_S.SUBMITTING, _S.UNKNOWN):
                    await manager.cancel_in(session, fresh, tick.ctx.clock())
        else:
            await manager.request_cancel(order.id)
    remaining = [
        o
        for o in await load_live(manager)
        if not (selling and tag_of(o) == STOP_SELL_TAG) and (cancel or o.status == _S.NEW)
    ]
    if remaining:
        tick.soon()
        return
    if selling and not await sell_base(tick):
        tick.soon()
        return
    async with tick.database.session_scope() as session:
        bot = await repository.lock_bot(session, tick.bot_id)
        if bot is not None and bot.status == BotStatus.STOPPING:
            await mark_stopped(session, bot)
    tick.status = BotStatus.STOPPED


async def sell_base(tick: BotTick) -> bool:
    """Place (once) and follow a market sell of the bot's position; True once it is over."""
    manager = tick.orders
    bot = await tick.reload()
    saved = load_state(bot).stop_sell or StopSell()
    if saved.order_id:
        # Followed by its tag, not its id: a sell the exchange refused is placed again under a
        # new client order id (order_manager._replace), and the stop waits for that one.
        live_sells = [o for o in await load_live(manager) if tag_of(o) == STOP_SELL_TAG]
        if not live_sells:
            return True
        if saved.skipped or await _replay_over(tick):
            if not saved.skipped:
                await _give_up_sale(tick, saved)
            # Every tick until it is cancelled: one still in flight is resolved first.
            for live_sell in live_sells:
                await manager.request_cancel(live_sell.id)
        await execute_pending(manager)
        return False
    market = tick.market
    assert market is not None
    position = Ledger.from_dict(load_state(bot).ledger).position
    try:
        balances = await manager.connector.fetch_balance()
        price = (await manager.connector.fetch_ticker(bot.symbol)).last
    except ExchangeError as error:
        logger.info("bot %s: cannot sell the base yet: %s", bot.id, error)
        return False
    held = balances[market.base].free if market.base in balances else Decimal(0)
    amount = min(position, held)
    now = tick.ctx.clock()
    message: str | None = None
    sell: Intent | None = None
    try:
        request = prepare_order(
            market, Side.SELL, OrderType.MARKET, amount, None, new_client_order_id(), price
        )
        sell = Intent(STOP_SELL_TAG, Side.SELL, OrderType.MARKET, request.amount, None)
    except MarketRuleViolation as error:
        message = f"nothing sold: {error}"
    created: list[Outcome] = []
    async with tick.database.session_scope() as session:
        locked = await repository.lock_bot(session, bot.id)
        if locked is None or locked.status != BotStatus.STOPPING:
            return True
        state = load_state(locked)
        killed = await kill_switches.kill_switch_engaged(session)
        if sell is not None:
            check = cb.check_new_order(breaker_of(state), limits_of(locked), now, None, price)
            if killed is not None or not check.allowed:
                reason = f"kill switch: {killed}" if killed else check.reason or "denied"
                _, created = manager.add_denied(session, sell, reason, now)
                message = f"base not sold: {reason}"
            else:
                order, created = manager.add_order(session, sell, now)
                state.stop_sell = StopSell(order_id=str(order.id))
                state.breaker = cb.record_order_sent(breaker_of(state), now).to_dict()
                store_state(locked, state)
        if message is not None:
            state.stop_sell = StopSell(order_id=None, skipped=message)
            store_state(locked, state)
            record_event(
                session,
                user_id=locked.user_id,
                bot_id=locked.id,
                type=EventType.STOP_SELL_SKIPPED,
                message=message,
                at=now,
            )
    manager.count(created)
    if message is not None:
        return True
    await execute_pending(manager)
    return False


async def _replay_over(tick: BotTick) -> bool:
    """A replay whose stored candles are all matched: nothing will ever fill a resting order."""
    venue = tick.venue
    if venue is None or venue.paper is None or not venue.replay:
        return False
    return await venue.paper.next_candle_close(tick.orders.bot.symbol) is None


async def _give_up_sale(tick: BotTick, saved: StopSell) -> None:
    """A stop sell no candle can fill is given up (then cancelled), with an event saying so."""
    now = tick.ctx.clock()
    matched = await tick.venue.paper.matched_until() if tick.venue and tick.venue.paper else now
    message = (
        f"base not sold: the replay has no candle after {matched.isoformat()} to sell at "
        "(import more candles to replay further)"
    )
    async with tick.database.session_scope() as session:
        locked = await repository.lock_bot(session, tick.bot_id)
        if locked is None or locked.status != BotStatus.STOPPING:
            return
        state = load_state(locked)
        state.stop_sell = saved.model_copy(update={"skipped": message})
        store_state(locked, state)
        record_event(
            session,
            user_id=locked.user_id,
            bot_id=locked.id,
            type=EventType.STOP_SELL_SKIPPED,
            message=message,
            at=now,
        )
