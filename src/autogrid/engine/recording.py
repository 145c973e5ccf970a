"""Recording one decision of the strategy: all of it in ONE transaction, or none of it.

The caller (the bot step) owns the transaction; this only writes and flushes. With the bot row
locked and the lease still ours: the new strategy state, the order intents (NEW rows, or DENIED
ones when pre-trade risk refuses them: ``trading.risk``), the cancel requests, the fills the
strategy has now seen (removed from its inbox), the ledger they update, the breaker state, and a
trip or a stop the decision leads to. Only after the commit does anything reach the exchange
(``reconcile.execute_pending``).

If the bot is no longer running (paused, stopped, halted meanwhile) or the lease was lost, the
decision is dropped whole: the fills stay in the inbox and the next decision sees them again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.bots import scheduled_buy_repository as slots
from autogrid.bots.ledger import Ledger, investment_of
from autogrid.bots.scheduled_buys import DueSlot, settle
from autogrid.bots.state import BotState, load_state, store_state
from autogrid.engine import signal_queue
from autogrid.engine.guard import breaker_of, cancels_on_trip, halt, limits_of, request_stop
from autogrid.engine.snapshot import INBOX_BATCH, Inbox
from autogrid.events.deals import deal_payloads
from autogrid.events.payloads import (
    scheduled_buy_made_payload,
    scheduled_buy_skipped_payload,
    strategy_action_payload,
    waiting_for_data_payload,
)
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.models import Bot, BotStatus
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, tag_of
from autogrid.risk import repository as kill_switches
from autogrid.risk import standing
from autogrid.signals.deliveries import Settled
from autogrid.trading.account_limits import Breach
from autogrid.trading.orders import TERMINAL_STATUSES, OrderStatus, Outcome
from autogrid.trading.risk import (
    OrderIntent,
    PreTrade,
    Risk,
    Trip,
    after_fills,
    final_trip,
    vet,
)
from autogrid.trading.strategies.base import (
    Action,
    CancelOrder,
    Decision,
    PlaceOrder,
    Snapshot,
    StopBot,
    Strategy,
)
from autogrid.trading.strategies.grid_config import round_amount
from autogrid.trading.strategies.signal_bot_state import SignalOutcome as StrategyOutcome

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Persisted:
    saved: bool
    trip_code: str | None = None
    stopped: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    state: BotState = field(default_factory=BotState)
    # Entries the owner's account limits refused (by tag): no order row, an event once a day.
    refused: list[tuple[str, Breach]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A decision of the strategy with what it was shown: the snapshot, the fills of its inbox,
    and the recurring-buy slot it settles (``due``: its buy joins the actions)."""

    snapshot: Snapshot
    decision: Decision[Any]
    inbox: Inbox
    due: DueSlot | None = None
    # The queued signals it acted on (or found stale): consumed with it, outcomes recorded.
    signals: tuple[Settled, ...] = ()
    # What the strategy did on its own, answering no signal (a signal bot's stop-loss sale):
    # journalled, so its owner hears of it.
    own: tuple[StrategyOutcome, ...] = ()


def wake_to_dict(decision: Decision[Any]) -> dict[str, Any]:
    wake = decision.wake
    return {
        "below": str(wake.price_at_or_below) if wake.price_at_or_below is not None else None,
        "above": str(wake.price_at_or_above) if wake.price_at_or_above is not None else None,
        "at": wake.at.isoformat() if wake.at is not None else None,
        "every_candle": wake.every_candle,
    }


async def record_decision(
    session: AsyncSession,
    manager: OrderManager,
    owner: str,
    strategy: Strategy[Any],
    market: MarketRules,
    proposal: Proposal,
) -> Persisted:
    """Write the decision in the caller's transaction (flushed, never committed): nothing of it
    if the bot no longer runs or the lease is no longer ``owner``'s. ``manager.count`` the
    outcomes once the caller has committed."""
    now = manager.clock()
    snapshot, decision = proposal.snapshot, proposal.decision
    bot = await bot_rows.lock_bot_row(session, manager.bot.bot_id)
    if bot is None or bot.status != BotStatus.RUNNING or bot.lease_owner != owner:
        return Persisted(saved=False)
    if not await signal_queue.claim(session, proposal.signals, now):
        logger.warning("bot %s: a queued signal was already consumed; decision dropped", bot.id)
        return Persisted(saved=False)
    killed = await kill_switches.kill_switch_engaged(session)
    state = load_state(bot)
    limits = limits_of(bot)
    checks = PreTrade(market, snapshot.price, limits, snapshot.now, now, killed)
    result = Persisted(saved=True)
    live = {tag_of(o): o for o in await repo.live_orders(session, bot.id)}
    actions = net_actions(decision.actions)
    slot = await _settle_slot(session, manager, state, proposal, market, now)
    if slot is not None:
        actions.append(slot[1])
    account = None
    if standing.has_entry(actions):  # locks the owner's account row until the commit
        equity = standing.pair_equity(snapshot)
        account = await standing.read_standing(session, bot.user_id, bot.id, now, equity)
    risk = Risk(breaker_of(state), account=account)
    risk, stop = await _carry_out(session, manager, actions, live, checks, risk, result)
    if slot is not None and proposal.due is not None:
        await _link_slot(session, manager, slot, proposal.due, live, now)
    ledger = _ledger_after(state, proposal.inbox, bot.symbol)
    whole = await _whole(session, bot, state, proposal.inbox, ledger)
    await standing.book_realized(session, bot, state, whole, now)
    pnl = ledger.total_pnl(snapshot.price)
    risk = after_fills(risk, limits, snapshot.now, pnl, investment_of(bot.investment, state))
    if state.start_equity is None and bot.investment is None:
        state.start_equity = str(snapshot.free_quote + snapshot.free_base * snapshot.price)
    await session.flush()  # the new rows, so the live tags below include them
    _journal_decision(session, manager, strategy, proposal, state, now)
    state.live_tags = tags_of(list(await repo.live_orders(session, bot.id)))
    state.strategy = strategy.dump_state(decision.state)
    state.breaker = risk.breaker.to_dict()
    state.ledger = ledger.to_dict()
    state.last_price = str(snapshot.price)
    state.wake = wake_to_dict(decision)
    state.decided_until = snapshot.now.isoformat()
    store_state(bot, state)
    bot.last_tick_at = now
    await repo.clear_inbox(session, proposal.inbox.entry_ids)
    trip = final_trip(risk, killed)
    await _halt_or_stop(session, manager, bot, trip, stop, result)
    # Only now is it known whether the orders the signals placed will be sent: a trip halts
    # the bot and every order not sent yet is denied.
    halted = trip.reason if trip is not None else None
    await signal_queue.record(session, bot.id, proposal.signals, live, result.refused, halted, now)
    for own in signal_queue.own_doings(proposal.own, live, result.refused, halted):
        payload = strategy_action_payload(own.action, own.accepted, own.reason, own.tags)
        manager.journal(session, payload, now)
    for payload in await standing.first_notices(session, bot.user_id, result.refused, now):
        manager.journal(session, payload, now)
    result.state = load_state(bot)
    return result


async def _halt_or_stop(
    session: AsyncSession,
    manager: OrderManager,
    bot: Bot,
    trip: Trip | None,
    stop: StopBot | None,
    result: Persisted,
) -> None:
    """A trip halts the bot (its open orders cancelled if its settings say so); else a StopBot
    of the decision asks for the stop."""
    now = manager.clock()
    if trip is not None:
        await halt(session, bot, trip.reason)
        result.trip_code = trip.code
        if cancels_on_trip(bot):
            for order in await repo.live_orders(session, bot.id):
                result.outcomes.append(await manager.cancel_in(session, order, now))
    elif stop is not None:
        await request_stop(
            session,
            bot,
            cancel_orders=stop.cancel_orders,
            sell_base=stop.sell_base,
            reason=stop.reason,
            now=now,
        )
        result.stopped = True


async def _carry_out(
    session: AsyncSession,
    manager: OrderManager,
    actions: Sequence[Action],
    live: dict[str | None, Any],
    checks: PreTrade,
    risk: Risk,
    result: Persisted,
) -> tuple[Risk, StopBot | None]:
    """The actions in the strategy's order: cancels asked, orders vetted (``trading.risk``) and
    written as NEW or DENIED rows, a creation time a microsecond apart each so they are sent in
    that order. ``live`` (by tag) gains the orders written."""
    now = manager.clock()
    bot_id = manager.bot.bot_id
    stop: StopBot | None = None
    placed = 0
    for action in actions:
        if isinstance(action, CancelOrder):
            order = live.get(action.tag)
            if order is not None and order.status not in TERMINAL_STATUSES:
                result.outcomes.append(await manager.cancel_in(session, order, now))
        elif isinstance(action, StopBot):
            stop = action
        elif isinstance(action, PlaceOrder):
            twin = live.get(action.tag)
            if twin is not None and twin.status not in TERMINAL_STATUSES:
                logger.warning("bot %s placed live tag %s again: ignored", bot_id, action.tag)
                continue
            wanted = OrderIntent(
                action.tag, action.side, action.type, action.amount, action.price, action.stop_price
            )
            vetted, risk = vet(wanted, checks, risk)
            if vetted.breach is not None:
                result.refused.append((action.tag, vetted.breach))
                continue
            intent = _intent_of(vetted.intent)
            at = now + timedelta(microseconds=placed)
            if vetted.denial is None:
                order, outcomes = manager.add_order(session, intent, at)
            else:
                # Told once per episode: a strategy placing again an order refused before
                # (``attempt``, backing off meanwhile) had its first refusal journalled.
                journal = action.attempt <= 1
                try:
                    order, outcomes = manager.add_denied(
                        session, intent, vetted.denial, at, journal=journal
                    )
                except ValueError as error:  # not even a valid order (amount 0, say)
                    logger.warning("bot %s: unrecordable order %s: %s", bot_id, action, error)
                    continue
            live[action.tag] = order
            result.outcomes += outcomes
            placed += 1
    return risk, stop


def _intent_of(intent: OrderIntent) -> Intent:
    return Intent(intent.tag, intent.side, intent.type, intent.amount, intent.price)


async def _whole(
    session: AsyncSession, bot: Bot, state: BotState, inbox: Inbox, ledger: Ledger
) -> Ledger:
    """What is booked: the bot's ledger with every fill of its inbox in. ``ledger`` (with the
    fills the decision absorbed) unless the decision saw only the inbox's first batch."""
    if len(inbox.entry_ids) < INBOX_BATCH:
        return ledger
    every = await repo.inbox_fills(session, bot.id)
    return Ledger.from_dict(state.ledger).with_fills(every, bot.symbol)


def _ledger_after(state: BotState, inbox: Inbox, symbol: str) -> Ledger:
    """The bot's ledger with the fills the strategy has now seen."""
    return Ledger.from_dict(state.ledger).with_fills(inbox.rows, symbol)


def _journal_decision(
    session: AsyncSession,
    manager: OrderManager,
    strategy: Strategy[Any],
    proposal: Proposal,
    state: BotState,
    now: datetime,
) -> None:
    """Deals opened and closed by the decision, and a first decision still short of candles."""
    for payload in deal_payloads(state.strategy, proposal.decision.state):
        manager.journal(session, payload, now)
    candles = proposal.snapshot.candles
    if state.strategy is None and candles is not None:  # the run's first decision
        waiting = waiting_for_data_payload(strategy.candles_needed(), len(candles))
        if waiting is not None:
            manager.journal(session, waiting, now)


def net_actions(actions: Sequence[Action]) -> list[Action]:
    """The decision's actions with every order placed and then cancelled within the decision
    dropped, both halves: it was never sent, so there is nothing to cancel (a DCA bot whose two
    safety orders fill at once re-places its take profit twice in one decision)."""
    kept: list[Action | None] = []
    placed_at: dict[str, int] = {}
    for action in actions:
        if isinstance(action, CancelOrder) and action.tag in placed_at:
            kept[placed_at.pop(action.tag)] = None
            continue
        if isinstance(action, PlaceOrder):
            placed_at[action.tag] = len(kept)
        kept.append(action)
    return [action for action in kept if action is not None]


async def _settle_slot(
    session: AsyncSession,
    manager: OrderManager,
    state: BotState,
    proposal: Proposal,
    market: MarketRules,
    now: datetime,
) -> tuple[uuid.UUID, PlaceOrder] | None:
    """The due recurring-buy slot claimed (its row and its buy) and settled in the bot state, or
    None; slots missed or already taken are journalled."""
    due = proposal.due
    if due is None:
        return None
    slot = await _claim(session, manager.bot.bot_id, due, proposal.snapshot.price, market)
    state.recurring_buys = settle(state, due, bought=slot is not None)
    _journal_missed(manager, session, due, slot is not None, now)
    return slot


async def _link_slot(
    session: AsyncSession,
    manager: OrderManager,
    slot: tuple[uuid.UUID, PlaceOrder],
    due: DueSlot,
    live: dict[str | None, Any],
    now: datetime,
) -> None:
    """The slot's row points at its order, and the journal says whether it was bought."""
    row_id, buy = slot
    if buy.tag in live:
        await session.flush()  # the order row exists before the slot points at it
        await slots.link_order(session, row_id, live[buy.tag].id)
    if due.buy is not None:
        _journal_slot_buy(manager, session, due, due.buy, live.get(buy.tag), now)


async def _claim(
    session: AsyncSession, bot_id: uuid.UUID, due: DueSlot, price: Decimal, market: MarketRules
) -> tuple[uuid.UUID, PlaceOrder] | None:
    """The slot's row and its market buy, or None if there is no slot to buy or it was taken.
    The amount is the quote at the decision's price; the market's rules round it down."""
    if due.buy is None or price <= 0:
        return None
    row_id = await slots.claim_slot(session, bot_id, due.buy, due.quote_amount, due.missed)
    if row_id is None:
        logger.warning("bot %s: recurring-buy slot %s was already taken", bot_id, due.buy)
        return None
    amount = round_amount(due.quote_amount / price, market.amount_step)
    return row_id, PlaceOrder(due.tag, Side.BUY, OrderType.MARKET, amount)


def _journal_missed(
    manager: OrderManager, session: AsyncSession, due: DueSlot, claimed: bool, now: datetime
) -> None:
    """Slots dropped by the catch-up policy, and a due slot another decision already took."""
    if due.missed:
        reason = f"{due.missed} slot(s) passed while the bot could not buy (catch-up policy)"
        manager.journal(session, scheduled_buy_skipped_payload(None, reason, due.missed), now)
    if due.buy is not None and not claimed:
        reason = "already bought, or no price to buy at"
        manager.journal(session, scheduled_buy_skipped_payload(due.buy, reason), now)


def _journal_slot_buy(
    manager: OrderManager,
    session: AsyncSession,
    due: DueSlot,
    slot: datetime,
    order: OrderView | None,
    now: datetime,
) -> None:
    """The slot's buy was placed, or refused before it was sent (breaker, kill switch, rules)."""
    if order is None or order.status == OrderStatus.DENIED:
        reason = "its order was refused before it was sent (see the order_denied event)"
        manager.journal(session, scheduled_buy_skipped_payload(slot, reason), now)
        return
    payload = scheduled_buy_made_payload(slot, due.quote_amount, due.tag)
    manager.journal(session, payload, now)


def tags_of(orders: Sequence[OrderView]) -> list[str]:
    return sorted(tag for tag in (tag_of(o) for o in orders) if tag is not None)
