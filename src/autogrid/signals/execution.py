"""Carrying out an accepted signal on its source's target bots (in a worker, once).

A signal that controls another bot does what its owner could do through the API, through the same
status machine (``bots.controls``): pause and resume change the bot row under its lock and
journal the change; the bot's step, holding its lease, acts on the new status at its next tick
(sent after commit). The step stays the only orchestrator of a bot's trading.

Per target, the outcome is ``executed``, ``bot_not_running`` (stopped, stopping or in error), or
``failed`` with the reason (a status the action cannot apply to, an action not supported yet).
The signal's row, each target's result and each event are written in one transaction; the signal
row is locked first (skipping a row another worker holds) and only an ``accepted`` signal is
carried out, so a task delivered twice acts once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import controls
from autogrid.bots.dispatch import BotCommand
from autogrid.bots.transitions import BotTransition
from autogrid.core.errors import AppError
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, Signal, User, UserIdentity
from autogrid.models.bot import BotStatus
from autogrid.signals import repository
from autogrid.signals.model import SignalAction
from autogrid.signals.outcomes import SignalOutcome, overall

NOT_RUNNING = frozenset({BotStatus.STOPPED, BotStatus.STOPPING, BotStatus.ERROR})
DEAL_ACTIONS_NOT_SUPPORTED = (
    "not supported yet: a DCA bot cannot be asked to open or close a deal from outside"
)

Result = tuple[SignalOutcome, str | None, BotCommand | None]
Control = Callable[[AsyncSession, UserIdentity, uuid.UUID], Awaitable[BotTransition]]
CONTROLS: dict[SignalAction, Control] = {
    SignalAction.PAUSE: controls.pause_bot,
    SignalAction.RESUME: controls.resume_bot,
}


async def execute(session: AsyncSession, signal_id: int) -> list[BotCommand]:
    """Carry the signal out if it is still waiting; the runtime commands to send after commit."""
    signal = await repository.lock_signal(session, signal_id)
    if signal is None or signal.outcome != SignalOutcome.ACCEPTED:
        return []
    user = await session.get(User, signal.user_id)
    assert user is not None  # the signal's foreign key cascades from its user
    action = SignalAction((signal.parsed or {})["action"])
    results: list[dict[str, Any]] = []
    commands: list[BotCommand] = []
    for bot_id in await repository.target_ids(session, signal.source_id):
        outcome, reason, command = await _on_bot(session, user, bot_id, action)
        results.append({"bot_id": str(bot_id), "outcome": outcome.value, "reason": reason})
        if command is not None:
            commands.append(command)
        _journal(session, signal, bot_id, action, outcome, reason)
    signal.outcome, signal.reason = overall(
        [(SignalOutcome(r["outcome"]), r["reason"]) for r in results]
    )
    signal.results = results
    signal.executed_at = utcnow()
    await session.flush()
    return commands


async def _on_bot(
    session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID, action: SignalAction
) -> Result:
    bot = await session.get(Bot, bot_id)
    if bot is None:
        return SignalOutcome.FAILED, "the bot no longer exists", None
    status = BotStatus(bot.status)
    if status in NOT_RUNNING:
        return SignalOutcome.BOT_NOT_RUNNING, f"the bot is {status.value}", None
    if action in (SignalAction.START_DEAL, SignalAction.CLOSE_DEAL):
        return SignalOutcome.FAILED, DEAL_ACTIONS_NOT_SUPPORTED, None
    if action == SignalAction.PAUSE and status == BotStatus.PAUSED:
        return SignalOutcome.EXECUTED, "already paused", None
    if action == SignalAction.RESUME and status == BotStatus.RUNNING:
        return SignalOutcome.EXECUTED, "already running", None
    control = CONTROLS.get(action)
    if control is None:
        return SignalOutcome.FAILED, f"{action.value} does not act on another bot", None
    try:
        transition = await control(session, user, bot_id)
    except AppError as refused:  # a status the action cannot apply to (BotStatusConflict)
        return SignalOutcome.FAILED, refused.message, None
    return SignalOutcome.EXECUTED, None, transition.command


def _journal(
    session: AsyncSession,
    signal: Signal,
    bot_id: uuid.UUID,
    action: SignalAction,
    outcome: SignalOutcome,
    reason: str | None,
) -> None:
    executed = outcome == SignalOutcome.EXECUTED
    message = f"signal {signal.id}: {action.value} " + (
        "done" if executed else f"not done: {outcome.value} ({reason})"
    )
    record_event(
        session,
        user_id=signal.user_id,
        bot_id=bot_id,
        type=EventType.SIGNAL_EXECUTED if executed else EventType.SIGNAL_REFUSED,
        message=message,
        at=utcnow(),
        data={
            "signal_id": signal.id,
            "source_id": str(signal.source_id),
            "action": action.value,
            "outcome": outcome.value,
            "reason": reason,
        },
    )
