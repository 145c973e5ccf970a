"""Persisting one decision of the strategy: all of it in ONE transaction, or none of it.

With the bot row locked and the lease still ours: the new strategy state, the order intents (NEW
rows, or DENIED ones when the kill switch, the circuit breaker or the market's rules refuse
them), the cancel requests, the fills the strategy has now seen (removed from its inbox), the
ledger they update, the breaker state, and a trip or a stop the decision leads to. Only after the
commit does anything reach the exchange (``reconcile.execute_pending``).

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

from autogrid.bots import scheduled_buy_repository as slots
from autogrid.bots.ledger import Ledger, split_symbol
from autogrid.bots.scheduled_buys import DueSlot, settle
from autogrid.bots.state import BotState, load_state, store_state
from autogrid.engine import repository
from autogrid.engine.guard import (
    TripCode,
    breaker_of,
    cancels_on_trip,
    denial_code,
    halt,
    limits_of,
    request_stop,
)
from autogrid.engine.snapshot import Inbox
from autogrid.events.deals import deal_payloads
from autogrid.events.payloads import (
    scheduled_buy_made_payload,
    scheduled_buy_skipped_payload,
    waiting_for_data_payload,
)
from autogrid.exchanges.errors import MarketRuleViolation
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import MarketRules, OrderType, Side
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.models import BotStatus
from autogrid.orders import store as repo
from autogrid.orders.values import OrderView, new_client_order_id, tag_of
from autogrid.risk import repository as kill_switches
from autogrid.trading import breaker as cb
from autogrid.trading.orders import TERMINAL_STATUSES, OrderStatus, Outcome
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

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Persisted:
    saved: bool
    trip_code: str | None = None
    stopped: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    state: BotState = field(default_factory=BotState)


def wake_to_dict(decision: Decision[Any]) -> dict[str, Any]:
    wake = decision.wake
    return {
        "below": str(wake.price_at_or_below) if wake.price_at_or_below is not None else None,
        "above": str(wake.price_at_or_above) if wake.price_at_or_above is not None else None,
        "at": wake.at.isoformat() if wake.at is not None else None,
        "every_candle": wake.every_candle,
    }


def investment_of(bot_investment: Decimal | None, state: BotState) -> Decimal | None:
    if bot_investment is not None and bot_investment > 0:
        return bot_investment
    start = state.start_equity
    return Decimal(start) if start else None


async def persist_decision(
    manager: OrderManager,
    owner: str,
    strategy: Strategy[Any],
    market: MarketRules,
    snapshot: Snapshot,
    decision: Decision[Any],
    inbox: Inbox,
    due: DueSlot | None = None,
) -> Persisted:
    """``due``: a recurring-buy slot settled by this decision (its buy joins the actions)."""
    now = manager.clock()
    at = snapshot.now  # the decision's own time (a candle close in a replay): the breaker's clock
    result = Persisted(saved=False)
    async with manager.database.session_scope() as session:
        bot = await repository.lock_bot(session, manager.bot.bot_id)
        if bot is None or bot.status != BotStatus.RUNNING or bot.lease_owner != owner:
            return result
        killed = await kill_switches.kill_switch_engaged(session)
        state = load_state(bot)
        limits = limits_of(bot)
        breaker = breaker_of(state)
        live = {tag_of(o): o for o in await repo.live_orders(session, bot.id)}
        base, quote = split_symbol(bot.symbol)
        trip: tuple[str, str] | None = None  # (code, reason)
        placed = 0
        stop: StopBot | None = None
        actions = net_actions(decision.actions)
        slot_row = None
        if due is not None:
            slot_row = await _claim(session, bot.id, due, snapshot.price, market)
            if slot_row is not None:
                actions.append(slot_row[1])
            state.recurring_buys = settle(state, due, bought=slot_row is not None)
            _journal_missed(manager, session, due, slot_row is not None, now)
        for action in actions:
            if isinstance(action, CancelOrder):
                order = live.get(action.tag)
                if order is not None and order.status not in TERMINAL_STATUSES:
                    result.outcomes.append(await manager.cancel_in(session, order, now))
            elif isinstance(action, StopBot):
                stop = action
            elif isinstance(action, PlaceOrder):
                live_twin = live.get(action.tag)
                if live_twin is not None and live_twin.status not in TERMINAL_STATUSES:
                    logger.warning("bot %s placed live tag %s again: ignored", bot.id, action.tag)
                    continue
                denial, intent = _vet(
                    action, market, snapshot.price, killed, trip, breaker, limits, at
                )
                if denial is None:
                    order, outcomes = manager.add_order(session, intent, _nth(now, placed))
                    breaker = cb.record_order_sent(breaker, at)
                else:
                    try:
                        order, outcomes = manager.add_denied(
                            session, intent, denial.reason or "", _nth(now, placed)
                        )
                    except ValueError as error:  # not even a valid order (amount 0, say)
                        logger.warning("bot %s: unrecordable order %s: %s", bot.id, action, error)
                        continue
                    if denial.trips_breaker and trip is None:
                        trip = (denial_code(denial.reason), denial.reason or "")
                        breaker = cb.trip(breaker, trip[1], now)
                live[action.tag] = order
                result.outcomes += outcomes
                placed += 1
        if slot_row is not None and slot_row[1].tag in live:
            await session.flush()  # the order row exists before the slot points at it
            await slots.link_order(session, slot_row[0], live[slot_row[1].tag].id)
        if due is not None and due.buy is not None and slot_row is not None:
            _journal_slot_buy(manager, session, due, due.buy, live.get(slot_row[1].tag), now)
        ledger = Ledger.from_dict(state.ledger)
        for fill in inbox.rows:
            ledger = ledger.add(
                side=fill.side,
                price=fill.price,
                amount=fill.amount,
                fee=fill.fee,
                fee_currency=fill.fee_currency,
                base=base,
                quote=quote,
            )
        investment = investment_of(bot.investment, state)
        if investment is not None and trip is None and not breaker.tripped:
            breaker = cb.record_pnl(
                breaker, limits, at, ledger.total_pnl(snapshot.price), investment
            )
            if breaker.tripped:
                trip = (TripCode.LOSS_LIMIT, breaker.tripped_reason or "loss limit")
        if state.start_equity is None and bot.investment is None:
            equity = snapshot.free_quote + snapshot.free_base * snapshot.price
            state.start_equity = str(equity)
        await session.flush()  # the new rows, so the live tags below include them
        for payload in deal_payloads(state.strategy, decision.state):
            manager.journal(session, payload, now)
        if state.strategy is None and snapshot.candles is not None:  # the run's first decision
            waiting = waiting_for_data_payload(strategy.candles_needed(), len(snapshot.candles))
            if waiting is not None:
                manager.journal(session, waiting, now)
        state.live_tags = tags_of(list(await repo.live_orders(session, bot.id)))
        state.strategy = strategy.dump_state(decision.state)
        state.breaker = breaker.to_dict()
        state.ledger = ledger.to_dict()
        state.last_price = str(snapshot.price)
        state.wake = wake_to_dict(decision)
        state.decided_until = snapshot.now.isoformat()
        store_state(bot, state)
        bot.last_tick_at = now
        await repo.clear_inbox(session, inbox.entry_ids)
        if killed is not None:
            trip = (TripCode.KILL_SWITCH, f"kill switch: {killed}")
        if trip is not None:
            await halt(session, bot, trip[1])
            result.trip_code = trip[0]
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
        result.saved = True
        result.state = load_state(bot)
    manager.count(result.outcomes)
    return result


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


def _vet(
    action: PlaceOrder,
    market: MarketRules,
    reference: Decimal,
    killed: str | None,
    trip: tuple[str, str] | None,
    breaker: cb.BreakerState,
    limits: cb.BreakerLimits,
    at: datetime,
) -> tuple[cb.Decision | None, Intent]:
    """(None, the prepared intent) if the order may go; else (the denial, the raw intent)."""
    raw = Intent(action.tag, action.side, action.type, action.amount, action.price)
    if killed is not None:
        return cb.Decision(False, f"kill switch: {killed}"), raw
    if trip is not None:
        return cb.Decision(False, f"circuit breaker tripped: {trip[1]}"), raw
    try:
        request = prepare_order(
            market,
            action.side,
            action.type,
            action.amount,
            action.price,
            new_client_order_id(),
            reference_price=reference,
        )
    except MarketRuleViolation as error:
        return cb.Decision(False, str(error)), raw
    check = cb.check_new_order(breaker, limits, at, request.price, reference)
    prepared = Intent(action.tag, request.side, request.type, request.amount, request.price)
    return (None if check.allowed else check), prepared


def _nth(now: datetime, index: int) -> datetime:
    """Creation times a microsecond apart: orders are sent in the order the strategy gave."""
    return now + timedelta(microseconds=index)


def tags_of(orders: Sequence[OrderView]) -> list[str]:
    return sorted(tag for tag in (tag_of(o) for o in orders) if tag is not None)
