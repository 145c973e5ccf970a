"""Carrying out an accepted signal on its source's target bots (in a worker, once).

A signal that controls another bot does what its owner could do through the API, through the same
status machine (``bots.controls``): pause and resume change the bot row under its lock and
journal the change; the bot's step, holding its lease, acts on the new status at its next tick
(sent after commit). The step stays the only orchestrator of a bot's trading.

A signal that trades is the target bot's own business: buy, sell, close_all and reverse on a
signal bot, start_deal and close_deal on a DCA bot are queued for the bot
(``signals.deliveries``), never acted on here; the bot's step carries them out under its lease
and writes the target's outcome (the tick is sent after commit, so it acts at once).

Per target, the outcome is ``executed``, ``queued`` (its bot acts on it next),
``bot_not_running`` (stopped, stopping or in error; paused or halted for a trading signal),
``refused`` (a bot of another type), or ``failed`` with the reason (a status the action cannot
apply to).
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
from autogrid.bots.dispatch import BotCommand, BotCommandKind
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.transitions import BotTransition
from autogrid.core.errors import AppError
from autogrid.core.sqltypes import utcnow
from autogrid.models import Bot, User, UserIdentity
from autogrid.models.bot import BotStatus, BotType
from autogrid.signals import deliveries, repository
from autogrid.signals.model import SignalAction
from autogrid.signals.outcomes import DEAL_ACTIONS, TRADING_ACTIONS, SignalOutcome, overall
from autogrid.smart_trades.from_signal import open_from_signal

NOT_RUNNING = frozenset({BotStatus.STOPPED, BotStatus.STOPPING, BotStatus.ERROR})
# Where a queued signal can wait for its bot's step (a paused or halted bot places nothing).
QUEUEING = frozenset({BotStatus.STARTING, BotStatus.RUNNING})
# The bot type whose step carries out each queued action.
QUEUED_ON = {
    **{action: BotType.SIGNAL for action in TRADING_ACTIONS},
    **{action: BotType.DCA for action in DEAL_ACTIONS},
}

Result = tuple[SignalOutcome, str | None, BotCommand | None]
Control = Callable[[AsyncSession, UserIdentity, uuid.UUID], Awaitable[BotTransition]]
CONTROLS: dict[SignalAction, Control] = {
    SignalAction.PAUSE: controls.pause_bot,
    SignalAction.RESUME: controls.resume_bot,
}


async def execute(
    session: AsyncSession, signal_id: int, markets: MarketRulesProvider
) -> list[BotCommand]:
    """Carry the signal out if it is still waiting; the runtime commands to send after commit.
    A smart trade it opens is checked against ``markets``, as ``POST /smart-trades`` is."""
    signal = await repository.lock_signal(session, signal_id)
    if signal is None or signal.outcome != SignalOutcome.ACCEPTED:
        return []
    user = await session.get(User, signal.user_id)
    assert user is not None  # the signal's foreign key cascades from its user
    action = SignalAction((signal.parsed or {})["action"])
    results: list[dict[str, Any]] = []
    commands: list[BotCommand] = []
    for bot_id in await repository.target_ids(session, signal.source_id):
        outcome, reason, command = await _on_bot(session, user, bot_id, action, signal.id)
        results.append({"bot_id": str(bot_id), "outcome": outcome.value, "reason": reason})
        if command is not None:
            commands.append(command)
        if outcome != SignalOutcome.QUEUED:  # the bot's step journals what it does with it
            deliveries.journal(session, signal, bot_id, action, outcome, reason, utcnow())
    template = await repository.smart_trade_template(session, signal.source_id)
    if template is not None and action != SignalAction.BUY and not results:
        # Nothing else to act on: say so rather than leave the signal without a target.
        reason = f"this source opens smart trades on buy signals; {action.value} has no target"
        results.append({"bot_id": None, "outcome": SignalOutcome.REFUSED.value, "reason": reason})
        deliveries.journal(session, signal, None, action, SignalOutcome.REFUSED, reason, utcnow())
    if template is not None and action == SignalAction.BUY:
        # The source opens a smart trade on each buy (``smart_trades.from_signal``).
        opened = await open_from_signal(session, user, signal, template, markets)
        outcome = SignalOutcome.EXECUTED if opened.trade_id else SignalOutcome.FAILED
        trade_id = str(opened.trade_id) if opened.trade_id else None
        results.append(
            {
                "bot_id": trade_id,
                "smart_trade_id": trade_id,
                "outcome": outcome.value,
                "reason": opened.reason,
            }
        )
        if opened.command is not None:
            commands.append(opened.command)
        deliveries.journal(
            session, signal, opened.trade_id, action, outcome, opened.reason, utcnow()
        )
    signal.outcome, signal.reason = overall(
        [(SignalOutcome(r["outcome"]), r["reason"]) for r in results]
    )
    signal.results = results
    signal.executed_at = utcnow()
    await session.flush()
    return commands


async def _on_bot(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    action: SignalAction,
    signal_id: int,
) -> Result:
    bot = await session.get(Bot, bot_id)
    if bot is None:
        return SignalOutcome.FAILED, "the bot no longer exists", None
    status = BotStatus(bot.status)
    if action in QUEUED_ON:
        return await _queue(session, bot, status, action, signal_id)
    if status in NOT_RUNNING:
        return SignalOutcome.BOT_NOT_RUNNING, f"the bot is {status.value}", None
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


async def _queue(
    session: AsyncSession, bot: Bot, status: BotStatus, action: SignalAction, signal_id: int
) -> Result:
    """Hand a trading signal to its bot's step (it acts under its lease); the tick to send."""
    wanted = QUEUED_ON[action]
    if bot.type != wanted:
        reason = f"{action.value} acts on a {wanted.value} bot; this is a {bot.type} bot"
        return SignalOutcome.REFUSED, reason, None
    if wanted == BotType.DCA and (bot.config.get("strategy") or {}).get("deals") is False:
        return SignalOutcome.REFUSED, "this DCA bot runs no deals, only scheduled buys", None
    if status not in QUEUEING:
        return SignalOutcome.BOT_NOT_RUNNING, f"the bot is {status.value}", None
    await deliveries.queue(session, signal_id, bot.id, utcnow())
    return SignalOutcome.QUEUED, None, BotCommand(bot.id, BotCommandKind.SIGNAL, bot.version)
