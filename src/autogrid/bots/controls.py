"""What an owner does to a bot: start, stop, pause, resume, reset the circuit breaker.

Services only flush; the request commits. Each returns a ``BotTransition`` whose ``command`` the
caller hands to the BotDispatcher after commit (routes do it through ``AfterCommit``).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.dispatch import BotCommandKind
from autogrid.bots.funds import ExchangeAccess, check_start_funds
from autogrid.bots.lifecycle import BotAction
from autogrid.bots.service import get_bot
from autogrid.bots.state import StopRequest, load_state, store_state
from autogrid.bots.transitions import (
    STOPPED_BY_OWNER,
    BotStatusConflict,
    BotTransition,
    finish_transition,
    next_status_or_conflict,
)
from autogrid.bots.validation import check_replay_start, invalid
from autogrid.core.sqltypes import utcnow
from autogrid.events.types import EventType
from autogrid.models import UserIdentity
from autogrid.models.bot import BotMode, BotStatus
from autogrid.trading import breaker as circuit_breaker


async def start_bot(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    exchange: ExchangeAccess | None = None,
) -> BotTransition:
    """stopped -> starting. A live DCA bot's balance is read first (``exchange`` is required
    for one), a replay bot's candles are looked for: a refusal leaves the bot untouched."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    target = next_status_or_conflict(bot, BotAction.START)
    if bot.mode == BotMode.LIVE and bot.credential_id is None:
        raise BotStatusConflict(
            "the bot's credential was deleted: set a credential_id before starting", bot
        )
    if bot.breaker_reason is not None:
        raise BotStatusConflict(
            f"the circuit breaker is tripped ({bot.breaker_reason}): reset it before starting",
            bot,
        )
    await check_replay_start(session, bot)
    await check_start_funds(session, bot, exchange)
    now = utcnow()
    bot.status = target
    bot.started_at = now
    bot.error = None
    state = load_state(bot)
    state.stop_request = None
    store_state(bot, state)
    return await finish_transition(
        session,
        bot,
        EventType.START_REQUESTED,
        "start requested",
        now,
        None,
        BotCommandKind.START,
    )


async def stop_bot(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    *,
    cancel_orders: bool = True,
    sell_base: bool = False,
) -> BotTransition:
    """Ask the runtime to stop; the options wait for it in the state's ``stop_request``.
    A bot already stopping takes the new options (the last request wins) and is woken again."""
    if sell_base and not cancel_orders:
        raise invalid("sell_base needs cancel_orders: open sells hold the base", "sell_base")
    bot = await get_bot(session, user, bot_id, for_update=True)
    target = next_status_or_conflict(bot, BotAction.STOP)
    now = utcnow()
    state = load_state(bot)
    state.stop_request = StopRequest(
        cancel_orders=cancel_orders, sell_base=sell_base, requested_at=now.isoformat()
    )
    bot.status = target
    store_state(bot, state)
    return await finish_transition(
        session,
        bot,
        EventType.STOP_REQUESTED,
        "stop requested",
        now,
        {"cancel_orders": cancel_orders, "sell_base": sell_base, "initiator": STOPPED_BY_OWNER},
        BotCommandKind.STOP,
    )


async def pause_bot(session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID) -> BotTransition:
    """No new decisions while paused; resting orders stay on the book."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    bot.status = next_status_or_conflict(bot, BotAction.PAUSE)
    return await finish_transition(
        session, bot, EventType.PAUSED, "paused", utcnow(), None, BotCommandKind.PAUSE
    )


async def resume_bot(session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID) -> BotTransition:
    bot = await get_bot(session, user, bot_id, for_update=True)
    bot.status = next_status_or_conflict(bot, BotAction.RESUME)
    return await finish_transition(
        session, bot, EventType.RESUMED, "resumed", utcnow(), None, BotCommandKind.RESUME
    )


async def reset_breaker(
    session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID
) -> BotTransition:
    """A human's reset: clears the trip (and the loss history that caused it); a halted bot
    runs again, a stopped one may be started."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    if bot.breaker_reason is None and bot.status != BotStatus.HALTED:
        raise BotStatusConflict("the circuit breaker is not tripped", bot)
    target = next_status_or_conflict(bot, BotAction.RESET_BREAKER)
    reason = bot.breaker_reason
    state = load_state(bot)
    if target == BotStatus.RUNNING and state.start_pending:
        target = BotStatus.STARTING  # halted before its start ran: the start comes first
    bot.status = target
    bot.breaker_reason = None
    bot.breaker_tripped_at = None
    if state.breaker is not None:
        fresh = circuit_breaker.reset(circuit_breaker.BreakerState.from_dict(state.breaker))
        state.breaker = fresh.to_dict()
    store_state(bot, state)
    return await finish_transition(
        session,
        bot,
        EventType.BREAKER_RESET,
        "circuit breaker reset",
        utcnow(),
        {"reason": reason},
        BotCommandKind.RESET_BREAKER,
    )
