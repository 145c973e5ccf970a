"""Bot rules: ownership, plan limits, validated settings, and the status machine.

Services only flush; the request (or the worker's task) commits. Lifecycle functions return a
``BotTransition`` whose ``command`` the caller hands to the BotDispatcher after commit (routes do
it through ``AfterCommit``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository
from autogrid.bots.configs import DcaParams, GridParams, StrategyParams
from autogrid.bots.dispatch import BotCommand, BotCommandKind
from autogrid.bots.funds import ExchangeAccess, check_start_funds
from autogrid.bots.indicator_params import IndicatorParams
from autogrid.bots.lifecycle import (
    EDITABLE_STATUSES,
    BotAction,
    IllegalTransition,
    next_status,
)
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.schemas import (
    BotCreate,
    BotUpdate,
    PaperSettings,
    breaker_settings,
    stored_config,
    strategy_data,
)
from autogrid.bots.state import BotState, StopRequest, load_state, store_state
from autogrid.bots.validation import BotDraft, check_replay_start, invalid, validate_draft
from autogrid.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, User
from autogrid.models.bot import BotMode, BotStatus, BotType
from autogrid.trading import breaker as circuit_breaker
from autogrid.trading.orders.states import IN_FLIGHT_STATUSES, OrderStatus

logger = logging.getLogger(__name__)


class PlanLimitReached(Forbidden):
    code = "plan_limit_reached"


class BotStatusConflict(Conflict):
    """The bot's status forbids the request; ``details.status`` is the current one."""

    code = "bot_status_conflict"

    def __init__(self, message: str, bot: Bot) -> None:
        super().__init__(message, details={"status": bot.status})


@dataclass(frozen=True, slots=True)
class BotTransition:
    bot: Bot
    command: BotCommand | None  # dispatch it after commit; None: nothing for the runtime to do


# --- reading ------------------------------------------------------------------------------


async def get_bot(
    session: AsyncSession, user: User, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot:
    """The user's bot; another user's is exactly as missing as one that never existed."""
    bot = await repository.get_bot(session, user.id, bot_id, for_update=for_update)
    if bot is None:
        raise NotFound("bot not found")
    return bot


async def list_bots(
    session: AsyncSession,
    user: User,
    page: PageParams,
    *,
    statuses: Collection[BotStatus] = (),
    types: Collection[BotType] = (),
) -> tuple[Sequence[Bot], int]:
    return await repository.list_bots(
        session, user.id, statuses=statuses, types=types, limit=page.limit, offset=page.offset
    )


# --- creating, editing, deleting ----------------------------------------------------------


async def create_bot(
    session: AsyncSession,
    user: User,
    body: BotCreate,
    markets: MarketRulesProvider,
    *,
    origin: str | None = None,
) -> Bot:
    """A stopped bot; ``origin`` (e.g. the backtest it was made from) goes into its journal."""
    await repository.lock_user(session, user.id)
    owned = await repository.count_bots(session, user.id)
    if owned >= user.bot_limit:
        raise PlanLimitReached(
            f"the {user.plan} plan allows {user.bot_limit} bots and you have {owned}: "
            "delete one or upgrade your plan",
            details={"plan": user.plan, "limit": user.bot_limit, "bots": owned},
        )
    now = utcnow()
    draft = BotDraft(
        exchange=body.exchange,
        symbol=body.symbol,
        mode=body.mode,
        credential_id=body.credential_id,
        paper=body.paper,
        params=body.config,
        breaker=body.breaker,
    )
    valid = await validate_draft(session, user, draft, markets, now)
    bot = Bot(
        id=uuid.uuid4(),
        user_id=user.id,
        name=body.name,
        type=body.type,
        exchange=valid.exchange,
        symbol=body.symbol,
        mode=body.mode,
        credential_id=body.credential_id,
        paper=body.paper.model_dump(mode="json") if body.paper else None,
        config=stored_config(body.config, body.breaker),
        status=BotStatus.STOPPED,
        state=BotState().to_json(),
        investment=valid.investment,
        tick_interval_seconds=body.tick_interval_seconds,
        version=1,
        created_at=now,
        updated_at=now,
    )
    repository.add_bot(session, bot)
    await session.flush()  # the bot row first: its events reference it
    created = f"{body.type} bot created" + (f" from {origin}" if origin else "")
    _record(session, bot, EventType.CREATED, created, now)
    await session.flush()
    logger.info("bot created bot_id=%s user_id=%s type=%s", bot.id, user.id, bot.type)
    return bot


async def update_bot(
    session: AsyncSession,
    user: User,
    bot_id: uuid.UUID,
    changes: BotUpdate,
    markets: MarketRulesProvider,
) -> Bot:
    bot = await get_bot(session, user, bot_id, for_update=True)
    now = utcnow()
    changed: list[str] = []
    if changes.changes_configuration:
        if bot.status not in EDITABLE_STATUSES:
            raise BotStatusConflict("stop the bot before changing its configuration", bot)
        if changes.paper is not None and bot.mode == BotMode.LIVE:
            raise invalid("paper settings only apply to paper bots", "paper")
        if changes.credential_id is not None and bot.mode == BotMode.PAPER:
            raise invalid("credential_id only applies to live bots", "credential_id")
        params = (
            parse_params(BotType(bot.type), changes.config)
            if changes.config is not None
            else stored_params(bot)
        )
        paper = changes.paper or (PaperSettings.model_validate(bot.paper) if bot.paper else None)
        breaker = changes.breaker or breaker_settings(bot)
        draft = BotDraft(
            exchange=bot.exchange,
            symbol=bot.symbol,
            mode=BotMode(bot.mode),
            credential_id=changes.credential_id or bot.credential_id,
            paper=paper,
            params=params,
            breaker=breaker,
        )
        valid = await validate_draft(session, user, draft, markets, now)
        bot.config = stored_config(params, breaker)
        bot.paper = paper.model_dump(mode="json") if paper else None
        bot.investment = valid.investment
        bot.credential_id = draft.credential_id
        changed += [
            name
            for name in ("config", "paper", "breaker", "credential_id")
            if getattr(changes, name) is not None
        ]
    if changes.name is not None and changes.name != bot.name:
        bot.name = changes.name
        changed.append("name")
    if (
        changes.tick_interval_seconds is not None
        and changes.tick_interval_seconds != bot.tick_interval_seconds
    ):
        bot.tick_interval_seconds = changes.tick_interval_seconds
        changed.append("tick_interval_seconds")
    if changed:
        _touch(bot, now)
        _record(
            session,
            bot,
            EventType.UPDATED,
            f"changed {', '.join(changed)}",
            now,
            {"fields": changed},
        )
        await session.flush()
    return bot


async def delete_bot(session: AsyncSession, user: User, bot_id: uuid.UUID) -> None:
    """Delete a stopped bot with its orders, fills, events and metrics (a hard delete)."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    if bot.status == BotStatus.STOPPING:
        raise BotStatusConflict(
            "the bot is still stopping: delete it once it is stopped (a stop sent again may "
            "ask for less, e.g. without sell_base)",
            bot,
        )
    if bot.status not in EDITABLE_STATUSES:
        raise BotStatusConflict("stop the bot before deleting it", bot)
    unresolved = await repository.count_orders(session, bot.id, _UNRESOLVED_ORDER_STATUSES)
    if unresolved:
        # Forgetting them would lose track of orders the exchange may still hold.
        raise Conflict(
            f"{unresolved} of the bot's orders are still being resolved with the exchange; "
            "try again once they are",
            details={"unresolved_orders": unresolved},
        )
    await repository.delete_bot(session, bot)
    logger.info("bot deleted bot_id=%s user_id=%s", bot_id, user.id)


_UNRESOLVED_ORDER_STATUSES = frozenset({*IN_FLIGHT_STATUSES, OrderStatus.PENDING_CANCEL})

_PARAMS: dict[BotType, TypeAdapter[Any]] = {
    BotType.GRID: TypeAdapter(GridParams),
    BotType.DCA: TypeAdapter(DcaParams),
    BotType.INDICATOR: TypeAdapter(IndicatorParams),
}


def parse_params(bot_type: BotType, data: dict[str, Any]) -> StrategyParams:
    """Validate a config for ``bot_type``; a 422 in the validation-error shape otherwise."""
    try:
        params: StrategyParams = _PARAMS[bot_type].validate_python(data)
    except ValidationError as error:
        details = [
            {"loc": ["body", "config", *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in error.errors()
        ]
        first = details[0]
        where = ".".join(str(part) for part in first["loc"][1:])
        raise Unprocessable(f"{where}: {first['msg']}", details=details) from None
    return params


def stored_params(bot: Bot) -> StrategyParams:
    """The bot's strategy parameters, typed (what the runtime builds its strategy from)."""
    params: StrategyParams = _PARAMS[BotType(bot.type)].validate_python(strategy_data(bot))
    return params


# --- the status machine -------------------------------------------------------------------


async def start_bot(
    session: AsyncSession, user: User, bot_id: uuid.UUID, exchange: ExchangeAccess | None = None
) -> BotTransition:
    """stopped -> starting. A live DCA bot's balance is read first (``exchange`` is required
    for one), a replay bot's candles are looked for: a refusal leaves the bot untouched."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    target = _next(bot, BotAction.START)
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
    return await _finish(
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
    user: User,
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
    target = _next(bot, BotAction.STOP)
    now = utcnow()
    state = load_state(bot)
    state.stop_request = StopRequest(
        cancel_orders=cancel_orders, sell_base=sell_base, requested_at=now.isoformat()
    )
    bot.status = target
    store_state(bot, state)
    return await _finish(
        session,
        bot,
        EventType.STOP_REQUESTED,
        "stop requested",
        now,
        {"cancel_orders": cancel_orders, "sell_base": sell_base},
        BotCommandKind.STOP,
    )


async def pause_bot(session: AsyncSession, user: User, bot_id: uuid.UUID) -> BotTransition:
    """No new decisions while paused; resting orders stay on the book."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    bot.status = _next(bot, BotAction.PAUSE)
    return await _finish(
        session, bot, EventType.PAUSED, "paused", utcnow(), None, BotCommandKind.PAUSE
    )


async def resume_bot(session: AsyncSession, user: User, bot_id: uuid.UUID) -> BotTransition:
    bot = await get_bot(session, user, bot_id, for_update=True)
    bot.status = _next(bot, BotAction.RESUME)
    return await _finish(
        session, bot, EventType.RESUMED, "resumed", utcnow(), None, BotCommandKind.RESUME
    )


async def reset_breaker(session: AsyncSession, user: User, bot_id: uuid.UUID) -> BotTransition:
    """A human's reset: clears the trip (and the loss history that caused it); a halted bot
    runs again, a stopped one may be started."""
    bot = await get_bot(session, user, bot_id, for_update=True)
    if bot.breaker_reason is None and bot.status != BotStatus.HALTED:
        raise BotStatusConflict("the circuit breaker is not tripped", bot)
    target = _next(bot, BotAction.RESET_BREAKER)
    reason = bot.breaker_reason
    bot.status = target
    bot.breaker_reason = None
    bot.breaker_tripped_at = None
    state = load_state(bot)
    if state.breaker is not None:
        fresh = circuit_breaker.reset(circuit_breaker.BreakerState.from_dict(state.breaker))
        state.breaker = fresh.to_dict()
        store_state(bot, state)
    return await _finish(
        session,
        bot,
        EventType.BREAKER_RESET,
        "circuit breaker reset",
        utcnow(),
        {"reason": reason},
        BotCommandKind.RESET_BREAKER,
    )


# --- reported by the runtime (the worker holds the row, locked, in its own transaction) ---


async def mark_running(session: AsyncSession, bot: Bot) -> None:
    """starting -> running, once the runtime has the bot in hand."""
    bot.status = next_status(BotAction.CONFIRM_STARTED, BotStatus(bot.status))
    await _finish(session, bot, EventType.STARTED, "running", utcnow(), None, None)


async def mark_stopped(session: AsyncSession, bot: Bot) -> None:
    """stopping -> stopped, once the stop request has been carried out."""
    now = utcnow()
    bot.status = next_status(BotAction.CONFIRM_STOPPED, BotStatus(bot.status))
    bot.stopped_at = now
    bot.next_tick_at = None
    state = load_state(bot)
    request = state.stop_request.to_json() if state.stop_request is not None else None
    state.stop_request = None
    store_state(bot, state)
    await _finish(session, bot, EventType.STOPPED, "stopped", now, request, None)


async def mark_halted(session: AsyncSession, bot: Bot, reason: str) -> None:
    """The circuit breaker tripped: no new orders until a human resets it."""
    now = utcnow()
    bot.status = next_status(BotAction.TRIP_BREAKER, BotStatus(bot.status))
    bot.breaker_reason = reason
    bot.breaker_tripped_at = now
    await _finish(session, bot, EventType.BREAKER_TRIPPED, reason, now, None, None)


async def mark_error(session: AsyncSession, bot: Bot, message: str) -> None:
    """Something a human must look at (the strategy raised, the key was revoked...)."""
    bot.status = next_status(BotAction.FAIL, BotStatus(bot.status))
    bot.error = message
    await _finish(session, bot, EventType.ERROR, message, utcnow(), None, None)


def _next(bot: Bot, action: BotAction) -> BotStatus:
    try:
        return next_status(action, BotStatus(bot.status))
    except IllegalTransition as error:
        raise BotStatusConflict(str(error), bot) from None


async def _finish(
    session: AsyncSession,
    bot: Bot,
    kind: EventType,
    message: str,
    now: datetime,
    data: dict[str, Any] | None,
    command: BotCommandKind | None,
) -> BotTransition:
    _touch(bot, now)
    _record(session, bot, kind, message, now, data)
    await session.flush()
    logger.info("bot %s bot_id=%s status=%s", kind, bot.id, bot.status)
    return BotTransition(bot, BotCommand(bot.id, command, bot.version) if command else None)


def _touch(bot: Bot, now: datetime) -> None:
    # A newer version tells a worker holding an older copy of the row to reload it.
    bot.version += 1
    bot.updated_at = now


def _record(
    session: AsyncSession,
    bot: Bot,
    kind: EventType,
    message: str,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    record_event(
        session, user_id=bot.user_id, bot_id=bot.id, type=kind, message=message, at=now, data=data
    )
