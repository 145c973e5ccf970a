"""Carrying out a stop: cancel what the request says, sell the base if asked, then stopped.

The request (the bot state's ``stop_request``, written by the API or by a strategy's StopBot) says
whether to cancel the open orders and whether to sell the base the bot bought. Cancels always go
through, whatever the breaker or the kill switch say. A bot stays ``stopping`` until every cancel
is confirmed (an order in flight is first resolved, then cancelled) and the sale is over.

The sale sells what the bot bought and still holds by every fill it has had, those its strategy
never decided on included (a buy that filled just before the stop). A buy that fills while the
sale is under way (left resting by the stop, or cancelled as it filled) is sold by a second sale
once its fill is seen; each sale sells at most the free balance.

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
from enum import Enum

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
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.execution import cancel
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent, OrderWriter
from autogrid.execution.reconcile import execute_pending, load_live
from autogrid.models import Bot, BotStatus
from autogrid.orders import store as order_rows
from autogrid.orders.values import OrderView, new_client_order_id, tag_of
from autogrid.risk import repository as kill_switches
from autogrid.risk.standing import book_unseen_fills
from autogrid.trading.orders import IN_FLIGHT_STATUSES, OrderStatus, Outcome
from autogrid.trading.risk import OrderIntent, PreTrade, Risk, vet

logger = logging.getLogger(__name__)

STOP_SELL_TAG = "STOPSELL"
_S = OrderStatus


class StopAt(Enum):
    WAITING = "waiting"  # cancels or the sale still under way: again soon
    DONE = "done"  # nothing left to do: the step marks the bot stopped (``mark_stopped_in``)


@dataclass(frozen=True, slots=True)
class Sale:
    """The sale the step records (``record_sale``): what to sell, or why nothing is sold."""

    sell: OrderIntent | None  # None: nothing to sell (``skipped`` says why)
    skipped: str | None
    price: Decimal
    bought: Decimal = Decimal(0)  # the base bought in all that it covers


@dataclass(frozen=True, slots=True)
class GiveUp:
    """A placed sale no candle of the replay can fill: the step records it (``give_up_sale``),
    then its order is cancelled (``cancel_sales``)."""

    message: str


StopNext = StopAt | Sale | GiveUp


async def run_stop(scope: StepScope) -> StopNext:
    """One step of the stop, the books already kept: the cancels sent, and what comes next.
    Writes only through the order manager (each order's change is its own transaction, the
    write-ahead rule); whatever the bot row needs is returned for the step to record."""
    manager = scope.orders
    request = load_state(scope.bot).stop_request or StopRequest()
    cancelling = request.cancel_orders
    # A repeated stop may have dropped the sale: its sell is then cancelled like the rest.
    selling = request.sell_base
    if scope.venue.paper is not None:
        try:
            await catch_up(scope.venue.paper, manager)
        except ExchangeError as error:
            # A live price source offline: the cancels still go through; matching waits.
            logger.info("bot %s: paper exchange not moved on: %s", scope.bot.id, error)
    for order in await load_live(manager):
        if (selling and tag_of(order) == STOP_SELL_TAG) or not (
            cancelling or order.status == _S.NEW
        ):
            continue
        if order.status in IN_FLIGHT_STATUSES:
            await manager.want_cancel(order.id)  # resolved first, then cancelled
        else:
            await cancel.request_cancel(manager, order.id)
    remaining = [
        o
        for o in await load_live(manager)
        if not (selling and tag_of(o) == STOP_SELL_TAG) and (cancelling or o.status == _S.NEW)
    ]
    if remaining:
        return StopAt.WAITING
    return await _next_for_sale(scope) if selling else StopAt.DONE


async def mark_stopped_in(session: AsyncSession, bot_id: uuid.UUID, now: datetime) -> bool:
    """stopping -> stopped, in the caller's transaction (nothing if no longer stopping), with
    the realised P&L of the stop's fills (its sale's) booked in the same commit. True if so:
    every fill the step saw is booked."""
    bot = await bot_rows.lock_bot_row(session, bot_id)
    if bot is None or bot.status != BotStatus.STOPPING:
        return False
    await book_unseen_fills(session, bot_id, now)
    await mark_stopped(session, bot)
    return True


async def _next_for_sale(scope: StepScope) -> StopNext:
    """The market sell of the bot's position: planned (once), then followed until it is over."""
    # Read again: an earlier step of the stop may have written the sale's progress.
    bot = await scope.orders.read(lambda session: repository.get_bot(session, scope.bot.id))
    if bot is None:
        raise StepAborted("the bot was deleted")
    saved = load_state(bot).stop_sell or StopSell()
    if saved.order_id:
        follow = await _follow_sale(scope, saved)
        if follow is not StopAt.DONE or not await _bought_since(scope, bot, saved):
            return follow
    sale = await _plan_sale(scope, bot, again=bool(saved.order_id))
    return StopAt.WAITING if sale is None else sale


async def _bought_since(scope: StepScope, bot: Bot, saved: StopSell) -> bool:
    """Whether a buy filled after the sale was planned (one cancelled as it filled, or left
    resting by the stop): what it bought is still held, and the stop sells it too."""
    if saved.skipped or saved.bought is None:
        return False
    return (await _books(scope, bot)).bought > Decimal(saved.bought)


async def _books(scope: StepScope, bot: Bot) -> Ledger:
    """The bot's ledger with every fill it has had: those its strategy decided on, and those
    still waiting in its inbox (a stopping bot decides no more: a buy that filled just before
    the stop, or while it runs, and the stop's own sales)."""
    waiting = await scope.orders.read(lambda session: order_rows.inbox_fills(session, bot.id))
    return Ledger.from_dict(load_state(bot).ledger).with_fills(waiting, bot.symbol)


async def _plan_sale(scope: StepScope, bot: Bot, *, again: bool = False) -> Sale | None:
    """The sale of what the bot bought and still holds, rounded to the market (``again``: what
    a buy added after the first sale); None while the exchange cannot tell the balance or the
    price."""
    market, connector = scope.market, scope.orders.connector
    books = await _books(scope, bot)
    position = books.position
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
        what = "the rest not sold" if again else "nothing sold"
        return Sale(None, f"{what}: {error}", price, books.bought)
    return Sale(
        OrderIntent(STOP_SELL_TAG, Side.SELL, OrderType.MARKET, request.amount),
        None,
        price,
        books.bought,
    )


@dataclass(frozen=True, slots=True)
class SaleRecorded:
    outcomes: list[Outcome]
    over: (
        bool  # nothing will be sold (``skipped`` in the bot state says why), or no longer stopping
    )


async def record_sale(
    session: AsyncSession, writer: OrderWriter, market: MarketRules, sale: Sale, now: datetime
) -> SaleRecorded:
    """The sell order written in the caller's transaction (flushed, never committed), with the
    sale's progress in the bot state. It passes the same pre-trade risk as every order a decision
    places (``trading.risk.vet``: the kill switch, the market's rules, the breaker); denied, it
    is written DENIED and the sale is over, saying why."""
    locked = await bot_rows.lock_bot_row(session, writer.bot.bot_id)
    if locked is None or locked.status != BotStatus.STOPPING:
        return SaleRecorded([], over=True)
    state = load_state(locked)
    message = sale.skipped
    created: list[Outcome] = []
    if sale.sell is not None:
        killed = await kill_switches.kill_switch_engaged(session)
        checks = PreTrade(market, sale.price, limits_of(locked), now, now, killed)
        vetted, risk = vet(sale.sell, checks, Risk(breaker_of(state)))
        intent = _intent_of(vetted.intent)
        if vetted.denial is not None:
            # A stopping bot is not halted by a denial: the stop ends, the base kept.
            _, created = writer.add_denied(session, intent, vetted.denial, now)
            message = f"base not sold: {vetted.denial}"
        else:
            order, created = writer.add_order(session, intent, now)
            state.stop_sell = StopSell(order_id=str(order.id), bought=str(sale.bought))
            state.breaker = risk.breaker.to_dict()
            store_state(locked, state)
    if message is not None:
        _skip_sale(session, locked, state, StopSell(order_id=None, skipped=message), now)
    return SaleRecorded(created, over=message is not None)


def _intent_of(intent: OrderIntent) -> Intent:
    return Intent(intent.tag, intent.side, intent.type, intent.amount, intent.price)


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


async def _follow_sale(scope: StepScope, saved: StopSell) -> StopNext:
    """The sale placed: over once its order is; given up (then cancelled) if no candle of a
    replay can fill it."""
    manager = scope.orders
    # Followed by its tag, not its id: a sell the exchange refused is placed again under a
    # new client order id (execution.replacement.place_again), and the stop waits for that one.
    if not await _live_sells(manager):
        return StopAt.DONE
    if saved.skipped:
        return await cancel_sales(scope)
    if await _replay_over(scope):
        return GiveUp(await _given_up_message(scope))
    await execute_pending(manager)
    return StopAt.WAITING


async def send_sale(scope: StepScope) -> StopNext:
    """The sale recorded: its order sent; the stop goes on until it is over."""
    await execute_pending(scope.orders)
    return StopAt.WAITING


async def cancel_sales(scope: StepScope) -> StopNext:
    """A sale given up: its order cancelled, every step until it is (one still in flight is
    resolved first)."""
    manager = scope.orders
    for live_sell in await _live_sells(manager):
        await cancel.request_cancel(manager, live_sell.id)
    await execute_pending(manager)
    return StopAt.WAITING


async def _live_sells(manager: OrderManager) -> list[OrderView]:
    return [o for o in await load_live(manager) if tag_of(o) == STOP_SELL_TAG]


async def _replay_over(scope: StepScope) -> bool:
    """A replay whose stored candles are all matched: nothing will ever fill a resting order."""
    paper = scope.venue.paper
    if paper is None or not scope.venue.replay:
        return False
    return await paper.next_candle_close(scope.orders.bot.symbol) is None


async def _given_up_message(scope: StepScope) -> str:
    paper = scope.venue.paper
    matched = await paper.matched_until() if paper is not None else scope.clock()
    return (
        f"base not sold: the replay has no candle after {matched.isoformat()} to sell at "
        "(import more candles to replay further)"
    )


async def give_up_sale(
    session: AsyncSession, bot_id: uuid.UUID, give_up: GiveUp, now: datetime
) -> None:
    """A stop sell no candle can fill is given up, with an event saying so, in the caller's
    transaction (its order is cancelled next: ``cancel_sales``)."""
    locked = await bot_rows.lock_bot_row(session, bot_id)
    if locked is None or locked.status != BotStatus.STOPPING:
        return
    state = load_state(locked)
    saved = state.stop_sell or StopSell()
    given_up = saved.model_copy(update={"skipped": give_up.message})
    _skip_sale(session, locked, state, given_up, now)
