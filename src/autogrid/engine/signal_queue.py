"""Signals queued for the bot (``signals.deliveries``), handed to its strategy by its step.

The step reads the queue before it decides (a queued signal calls for a decision), hands the
signals still fresh to the strategy (``TakesSignals.enqueue``), and takes the outcomes out of the
decision's state (those that answer no queued signal, the bot's own doings, are journalled as
``strategy_action`` events). The decision's recording then, in its one transaction, marks the
signals consumed (nothing of the decision is written if one already was) and writes each target's
outcome: ``executed`` with what was done, ``refused`` with the strategy's reason,
``refused_by_risk`` when pre-trade risk denied the orders it placed or the decision halted the
bot (its orders are then never sent), ``stale`` past its max_lag.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.signals import deliveries
from autogrid.signals.deliveries import Queued, Settled
from autogrid.signals.outcomes import SignalOutcome
from autogrid.trading.account_limits import Breach
from autogrid.trading.orders import OrderStatus
from autogrid.trading.strategies.base import Decision
from autogrid.trading.strategies.signal_bot_state import SignalOutcome as Answer
from autogrid.trading.strategies.signal_bot_state import TakesSignals, TimedSignal

DENIED = "its order was refused before it was sent (see the order_denied event)"
HALTED = "the bot halted before its orders were sent"


@dataclass(frozen=True, slots=True)
class Handed:
    """The strategy's state with the fresh signals queued in, and the stale ones settled."""

    state: Any
    queued: tuple[Queued, ...]
    stale: tuple[Settled, ...]


def hand_over(taker: TakesSignals, state: Any, queued: Sequence[Queued], now: datetime) -> Handed:
    """Queue the signals into the state to act on at ``now``; those past their max_lag are
    settled ``stale`` and never reach the strategy."""
    fresh: list[Queued] = []
    stale: list[Settled] = []
    for item in queued:
        late = item.stale(now)
        if late is None:
            fresh.append(item)
        else:
            action = item.signal.action.value
            stale.append(
                Settled(item.delivery_id, item.signal_id, action, SignalOutcome.STALE, late)
            )
    timed = [TimedSignal(now, item.signal, item.signal_id) for item in fresh]
    return Handed(taker.enqueue(state, timed) if timed else state, tuple(fresh), tuple(stale))


def take_outcomes(
    taker: TakesSignals, decision: Decision[Any], handed: Handed
) -> tuple[Decision[Any], tuple[Settled, ...], tuple[Answer, ...]]:
    """The decision without outcomes in its state, what became of each handed signal (one the
    strategy left unanswered stays queued), and the outcomes that answer no handed signal: what
    the bot did on its own (a signal bot's stop-loss sale), journalled by the recording."""
    outcomes, state = taker.take_outcomes(decision.state)
    by_ref = {outcome.ref: outcome for outcome in outcomes}
    handed_refs = {item.signal_id for item in handed.queued}
    own = tuple(outcome for outcome in outcomes if outcome.ref not in handed_refs)
    settled = list(handed.stale)
    for item in handed.queued:
        outcome = by_ref.get(item.signal_id)
        if outcome is None:
            continue
        kind = SignalOutcome.EXECUTED if outcome.accepted else SignalOutcome.REFUSED
        settled.append(
            Settled(
                item.delivery_id,
                item.signal_id,
                outcome.action,
                kind,
                outcome.reason or None,
                outcome.tags,
            )
        )
    return replace(decision, state=state), tuple(settled), own


async def claim(session: AsyncSession, settled: Sequence[Settled], now: datetime) -> bool:
    """Mark the signals consumed; False if one already was (the decision is then dropped)."""
    return await deliveries.consume(session, [item.delivery_id for item in settled], now)


async def record(
    session: AsyncSession,
    bot_id: uuid.UUID,
    settled: Sequence[Settled],
    placed: dict[str | None, Any],
    refused: Sequence[tuple[str, Breach]],
    halted: str | None,
    now: datetime,
) -> None:
    """Each signal's outcome for the bot, with what pre-trade risk made of its orders, and
    ``halted``: the reason of the trip the decision led to (its orders are then never sent)."""
    breaches = dict(refused)
    final: list[Settled] = []
    for item in settled:
        if item.outcome == SignalOutcome.EXECUTED:
            why = unsent(item.tags, placed, breaches, halted)
            if why is not None:
                item = replace(item, outcome=SignalOutcome.REFUSED_BY_RISK, reason=why)
        final.append(item)
    await deliveries.write_results(session, bot_id, final, now)


def own_doings(
    own: Sequence[Answer],
    placed: dict[str | None, Any],
    refused: Sequence[tuple[str, Breach]],
    halted: str | None,
) -> list[Answer]:
    """What the bot did on its own, not done if pre-trade risk or a trip kept its orders."""
    breaches = dict(refused)
    final: list[Answer] = []
    for outcome in own:
        why = unsent(outcome.tags, placed, breaches, halted) if outcome.accepted else None
        final.append(outcome if why is None else replace(outcome, accepted=False, reason=why))
    return final


def unsent(
    tags: Sequence[str],
    placed: dict[str | None, Any],
    breaches: dict[str, Breach],
    halted: str | None,
) -> str | None:
    """Why the orders ``tags`` are never sent: refused by pre-trade risk, or the bot halted
    before they were; None if they go out."""
    for tag in tags:
        breach = breaches.get(tag)
        order = placed.get(tag)
        if breach is not None:
            return breach.reason
        if order is not None and order.status == OrderStatus.DENIED:
            return DENIED
    if halted is not None and tags:
        return f"{HALTED}: {halted}"
    return None
