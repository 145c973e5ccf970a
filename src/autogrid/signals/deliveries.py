"""Signals queued for a target bot's own step, and the results its step writes back.

The signal's worker (``signals.execution``) never touches a bot's strategy: the bot's step owns
it under its lease. A trading signal is queued for the bot instead (one ``signal_deliveries``
row per signal and bot, so a task delivered twice queues once), and its target's result reads
``queued``. The step reads its bot's queue in order, acts on it, and in the transaction of its
decision marks the rows consumed and writes each target's outcome, with the journal's
``signal_executed`` or ``signal_refused`` event: a crash before that commit leaves the rows
queued for the next step, which acts on them once.

A queued signal may wait (its bot paused for a while): when its step reads it later than its
max_lag (the signal's own, else its source's) after it was sent (or, with no time on it, after
it arrived), it is ``stale`` and nothing is done. A bot that stops drops what it still had
queued, ``bot_not_running``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, Signal, SignalDelivery, SignalSource
from autogrid.signals.model import ParsedSignal
from autogrid.signals.outcomes import SignalOutcome, overall
from autogrid.signals.values import signal_from_json

# Signals one decision acts on at most; the rest wait for the next step (sent at once).
BATCH = 50
# A max_lag above this is treated as this: a timedelta cannot hold any number a sender writes.
LONGEST_LAG_SECONDS = 366 * 86_400


@dataclass(frozen=True, slots=True)
class Queued:
    """A signal waiting for its bot's step."""

    delivery_id: int
    signal_id: int
    signal: ParsedSignal
    received_at: datetime
    max_lag_seconds: int | None  # the signal's own, else its source's; None: no limit

    def stale(self, now: datetime) -> str | None:
        """Why it is too old to act on at ``now``, or None."""
        if self.max_lag_seconds is None:
            return None
        sent = self.signal.sent_at or self.received_at
        sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
        late = now - sent
        if late > timedelta(seconds=min(self.max_lag_seconds, LONGEST_LAG_SECONDS)):
            seconds = int(late.total_seconds())
            return f"acted on {seconds} s after it was sent, more than its max_lag of " + (
                f"{self.max_lag_seconds} s"
            )
        return None


@dataclass(frozen=True, slots=True)
class Settled:
    """What a bot's step made of one queued signal."""

    delivery_id: int
    signal_id: int
    action: str
    outcome: SignalOutcome
    reason: str | None
    tags: tuple[str, ...] = ()  # the orders it placed


async def queue(session: AsyncSession, signal_id: int, bot_id: uuid.UUID, now: datetime) -> None:
    """Queue the signal for the bot, once (the caller holds the signal's row lock), and bring
    the bot's next tick forward: a step reads its queue only if its lease found signals in it,
    so a step already under way when this commits leaves it to the next, due now."""
    found = await session.scalar(
        select(SignalDelivery.id).where(
            SignalDelivery.signal_id == signal_id, SignalDelivery.bot_id == bot_id
        )
    )
    if found is None:
        session.add(SignalDelivery(signal_id=signal_id, bot_id=bot_id, queued_at=now))
        await session.execute(
            update(Bot)
            .where(Bot.id == bot_id)
            .values(next_tick_at=now, updated_at=Bot.updated_at)  # not an edit of the bot
            .execution_options(synchronize_session=False)
        )
        await session.flush()


async def queued_for(session: AsyncSession, bot_id: uuid.UUID) -> list[Queued]:
    """The bot's signals still queued, in arrival order (at most ``BATCH``)."""
    rows = await session.execute(
        select(SignalDelivery.id, Signal, SignalSource.max_lag_seconds)
        .join(Signal, Signal.id == SignalDelivery.signal_id)
        .join(SignalSource, SignalSource.id == Signal.source_id)
        .where(SignalDelivery.bot_id == bot_id, SignalDelivery.consumed_at.is_(None))
        .order_by(SignalDelivery.id)
        .limit(BATCH)
    )
    found: list[Queued] = []
    for delivery_id, signal, source_lag in rows.all():
        parsed = signal_from_json(signal.parsed or {})
        lag = parsed.max_lag_seconds if parsed.max_lag_seconds is not None else source_lag
        found.append(Queued(delivery_id, signal.id, parsed, signal.received_at, lag))
    return found


async def consume(session: AsyncSession, delivery_ids: Sequence[int], now: datetime) -> bool:
    """Mark the deliveries consumed; False, marking none, if any of them already was (the
    caller then drops its decision, and the transaction commits: the others must stay queued)."""
    if not delivery_ids:
        return True
    # Locked first (PostgreSQL), so no other holder can consume one between this check and the
    # update; a short update after it would mark some and not others.
    pending = await session.scalars(
        select(SignalDelivery.id)
        .where(SignalDelivery.id.in_(delivery_ids), SignalDelivery.consumed_at.is_(None))
        .order_by(SignalDelivery.id)
        .with_for_update()
    )
    if len(pending.all()) != len(delivery_ids):
        return False
    result = await session.execute(
        update(SignalDelivery)
        .where(SignalDelivery.id.in_(delivery_ids), SignalDelivery.consumed_at.is_(None))
        .values(consumed_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == len(delivery_ids)


async def write_results(
    session: AsyncSession, bot_id: uuid.UUID, settled: Sequence[Settled], now: datetime
) -> None:
    """Each signal's result for this bot, its overall outcome, and its journal event."""
    for item in settled:
        signal = await _lock(session, item.signal_id)
        if signal is None:  # pruned meanwhile: nothing left to tell
            continue
        results: list[dict[str, Any]] = [
            entry for entry in signal.results or [] if entry.get("bot_id") != str(bot_id)
        ]
        results.append(
            {"bot_id": str(bot_id), "outcome": item.outcome.value, "reason": item.reason}
        )
        signal.results = sorted(results, key=lambda entry: str(entry["bot_id"]))
        signal.outcome, signal.reason = overall(
            [(SignalOutcome(entry["outcome"]), entry["reason"]) for entry in signal.results]
        )
        signal.executed_at = now
        journal(session, signal, bot_id, item.action, item.outcome, item.reason, now)
    await session.flush()


async def drop_queued(session: AsyncSession, bot_id: uuid.UUID, reason: str, now: datetime) -> None:
    """What the bot still had queued ends ``bot_not_running`` (the bot stopped)."""
    rows = await session.execute(
        select(SignalDelivery.id, SignalDelivery.signal_id, Signal.parsed)
        .join(Signal, Signal.id == SignalDelivery.signal_id)
        .where(SignalDelivery.bot_id == bot_id, SignalDelivery.consumed_at.is_(None))
        .order_by(SignalDelivery.id)
    )
    dropped = [
        Settled(delivery_id, signal_id, (parsed or {}).get("action", "?"), NOT_RUNNING, reason)
        for delivery_id, signal_id, parsed in rows.all()
    ]
    await consume(session, [item.delivery_id for item in dropped], now)
    await write_results(session, bot_id, dropped, now)


NOT_RUNNING = SignalOutcome.BOT_NOT_RUNNING


async def _lock(session: AsyncSession, signal_id: int) -> Signal | None:
    # Waits for a signal's worker or another target's step: each writes its own bot's result.
    signal: Signal | None = await session.scalar(
        select(Signal)
        .where(Signal.id == signal_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return signal


def journal(
    session: AsyncSession,
    signal: Signal,
    bot_id: uuid.UUID | None,
    action: str,
    outcome: SignalOutcome,
    reason: str | None,
    now: datetime,
) -> None:
    """The ``signal_executed`` or ``signal_refused`` event of one target."""
    executed = outcome == SignalOutcome.EXECUTED
    message = f"signal {signal.id}: {action} " + (
        "done" if executed else f"not done: {outcome.value} ({reason})"
    )
    record_event(
        session,
        user_id=signal.user_id,
        bot_id=bot_id,
        type=EventType.SIGNAL_EXECUTED if executed else EventType.SIGNAL_REFUSED,
        message=message,
        at=now,
        data={
            "signal_id": signal.id,
            "source_id": str(signal.source_id),
            "action": action,
            "outcome": outcome.value,
            "reason": reason,
        },
    )
