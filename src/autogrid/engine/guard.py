"""The circuit breaker and the kill switch as the runtime applies them to a bot row.

The breaker's arithmetic is pure (``autogrid.trading.breaker``); here its state is read from and
written to the bot state's ``breaker`` inside the caller's transaction (the bot row locked), a trip
halts the bot through the bots service's status machine, and the trip is counted under a short
fixed reason code (never the human message, which carries prices).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.lifecycle import (
    TRANSITIONS,
    BotAction,
    next_status,
)
from autogrid.bots.schemas import breaker_settings
from autogrid.bots.service import mark_error, mark_halted
from autogrid.bots.state import BotState, StopRequest, load_state, store_state
from autogrid.bots.transitions import STOPPED_BY_BOT
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, BotStatus
from autogrid.observability.metrics import BREAKER_TRIPS
from autogrid.trading import breaker as cb

logger = logging.getLogger(__name__)


def limits_of(bot: Bot) -> cb.BreakerLimits:
    """The platform's limits, tightened by the bot's own settings (validated at creation)."""
    try:
        return cb.BreakerLimits().tightened(breaker_settings(bot).limit_overrides())
    except ValueError:
        logger.warning("bot %s has invalid breaker settings; using the platform's", bot.id)
        return cb.BreakerLimits()


def cancels_on_trip(bot: Bot) -> bool:
    return bool((bot.config.get("breaker") or {}).get("cancel_open_orders_on_trip"))


def breaker_of(state: BotState) -> cb.BreakerState:
    return cb.BreakerState.from_dict(state.breaker or {})


def fold_calls(
    state: cb.BreakerState, limits: cb.BreakerLimits, now: datetime, calls: Sequence[str | None]
) -> cb.BreakerState:
    """Feed a run of exchange calls (None: worked; else the error class) to the breaker."""
    for failure in calls:
        if failure is None:
            state = cb.record_exchange_success(state)
        else:
            state = cb.record_exchange_error(state, limits, now, failure)
    return state


def can_halt(bot: Bot) -> bool:
    return BotStatus(bot.status) in TRANSITIONS[BotAction.TRIP_BREAKER]


async def halt(session: AsyncSession, bot: Bot, reason: str) -> bool:
    """Trip -> halted (status, breaker_reason/tripped_at, an event); False if the bot's
    status cannot be halted (already halted, stopping...)."""
    if not can_halt(bot):
        return False
    await mark_halted(session, bot, reason[:2000])
    logger.warning("bot %s halted: %s", bot.id, reason)
    return True


async def trip_for(session: AsyncSession, bot: Bot, reason: str, now: datetime) -> bool:
    """Trip the breaker for a failure its own checks do not see (an intent the exchange kept
    refusing, whose attempts ran out): the breaker state records it and the bot halts, like the
    consecutive-errors limit. False if the bot's status cannot be halted."""
    if not can_halt(bot):
        return False
    state = load_state(bot)
    state.breaker = cb.trip(breaker_of(state), reason[:2000], now).to_dict()
    store_state(bot, state)
    return await halt(session, bot, reason)


def count_trip(code: str) -> None:
    """After commit: one trip of the breaker under its reason code."""
    BREAKER_TRIPS.labels(code).inc()


async def fail(session: AsyncSession, bot: Bot, message: str) -> bool:
    """Something a human must look at: status error with the message, and an event."""
    if BotStatus(bot.status) not in TRANSITIONS[BotAction.FAIL]:
        return False
    await mark_error(session, bot, message[:2000])
    logger.error("bot %s failed: %s", bot.id, message)
    return True


async def request_stop(
    session: AsyncSession,
    bot: Bot,
    *,
    cancel_orders: bool,
    sell_base: bool,
    reason: str,
    now: datetime,
    message: str | None = None,
) -> None:
    """The strategy asked to stop (its StopBot action), or the runtime did (``message`` says
    why): running -> stopping, like the API's."""
    bot.status = next_status(BotAction.STOP, BotStatus(bot.status))
    request = StopRequest(
        cancel_orders=cancel_orders,
        sell_base=sell_base,
        requested_at=now.isoformat(),
        reason=reason,
    )
    state = load_state(bot)
    state.stop_request = request
    store_state(bot, state)
    bot.version += 1
    bot.updated_at = now
    record_event(
        session,
        user_id=bot.user_id,
        bot_id=bot.id,
        type=EventType.STOP_REQUESTED,
        message=message or f"the strategy stopped: {reason}",
        at=now,
        data={**request.to_json(), "initiator": STOPPED_BY_BOT},
    )
