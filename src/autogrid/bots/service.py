"""Bot rules: ownership, plan limits, validated settings, and the statuses the runtime reports.

Services only flush; the request (or the worker's task) commits. An owner's start, stop, pause,
resume and breaker reset are in controls.py; both move the bot through transitions.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository
from autogrid.bots.configs import DcaParams, GridParams, StrategyParams
from autogrid.bots.indicator_params import IndicatorParams
from autogrid.bots.lifecycle import (
    EDITABLE_STATUSES,
    BotAction,
    next_status,
)
from autogrid.bots.markets import MarketRulesProvider
from autogrid.bots.schemas import (
    BotCreate,
    BotUpdate,
    PaperSettings,
    SmartTradeBotCreate,
    StoppedBy,
    breaker_settings,
    stored_config,
    strategy_data,
)
from autogrid.bots.signal_params import SignalBotParams
from autogrid.bots.smart_trade_params import SmartTradeParams
from autogrid.bots.state import BotState, load_state, store_state
from autogrid.bots.transitions import (
    STOPPED_BY_BOT,
    STOPPED_BY_OWNER,
    BotStatusConflict,
    finish_transition,
    record_bot_event,
    touch,
)
from autogrid.bots.validation import BotDraft, invalid, validate_draft
from autogrid.core.db import Connectable
from autogrid.core.errors import Conflict, Forbidden, NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.events.types import EventType
from autogrid.models import PLAN_BOT_LIMITS, Bot, Plan, UserIdentity
from autogrid.models.bot import BotMode, BotStatus, BotType
from autogrid.signals import deliveries
from autogrid.trading.orders.states import IN_FLIGHT_STATUSES, OrderStatus

logger = logging.getLogger(__name__)


class PlanLimitReached(Forbidden):
    code = "plan_limit_reached"


# --- reading ------------------------------------------------------------------------------


async def get_bot(
    session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot:
    """The user's bot; another user's is exactly as missing as one that never existed."""
    bot = await repository.get_bot(session, user.id, bot_id, for_update=for_update)
    if bot is None:
        raise NotFound("bot not found")
    return bot


async def read_bot(reads: Connectable, user: UserIdentity, bot_id: uuid.UUID) -> Row[Any]:
    """The user's bot as a row, to read only; missing as in ``get_bot`` otherwise."""
    bot = await repository.read_bot(reads, user.id, bot_id)
    if bot is None:
        raise NotFound("bot not found")
    return bot


async def check_owned(reads: Connectable, user: UserIdentity, bot_id: uuid.UUID) -> None:
    """404, as ``get_bot``, unless the user owns the bot."""
    if not await repository.owns_bot(reads, user.id, bot_id):
        raise NotFound("bot not found")


async def list_bots(
    reads: Connectable,
    user: UserIdentity,
    page: PageParams,
    *,
    statuses: Collection[BotStatus] = (),
    types: Collection[BotType] = (),
    stopped_by: StoppedBy | None = None,
) -> tuple[list[Row[Any]], int]:
    # Smart trades have their own list (/smart-trades): many short-lived trades would bury the
    # bots; no type asked for lists every other type. Asked for by type, they are listed too.
    return await repository.list_bots(
        reads,
        user.id,
        statuses=statuses,
        types=types,
        limit=page.limit,
        offset=page.offset,
        stopped_by=stopped_by.value if stopped_by is not None else None,
    )


# --- creating, editing, deleting ----------------------------------------------------------


async def create_bot(
    session: AsyncSession,
    user: UserIdentity,
    body: BotCreate | SmartTradeBotCreate,
    markets: MarketRulesProvider,
    *,
    origin: str | None = None,
) -> Bot:
    """A stopped bot; ``origin`` (e.g. the backtest it was made from) goes into its journal."""
    # The quota is the locked row's plan, not the caller's cached copy of it.
    plan = await repository.lock_user(session, user.id)
    limit = PLAN_BOT_LIMITS[Plan(plan)]
    owned = await repository.count_bots(session, user.id)
    if owned >= limit:
        raise PlanLimitReached(
            f"the {plan} plan allows {limit} bots and you have {owned}: "
            "delete one or upgrade your plan",
            details={"plan": plan, "limit": limit, "bots": owned},
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
    record_bot_event(session, bot, EventType.CREATED, created, now)
    await session.flush()
    logger.info("bot created bot_id=%s user_id=%s type=%s", bot.id, user.id, bot.type)
    return bot


async def update_bot(
    session: AsyncSession,
    user: UserIdentity,
    bot_id: uuid.UUID,
    changes: BotUpdate,
    markets: MarketRulesProvider,
) -> Bot:
    bot = await get_bot(session, user, bot_id, for_update=True)
    now = utcnow()
    changed: list[str] = []
    if changes.changes_configuration:
        await _reconfigure(session, user, bot, changes, markets, now)
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
        touch(bot, now)
        record_bot_event(
            session,
            bot,
            EventType.UPDATED,
            f"changed {', '.join(changed)}",
            now,
            {"fields": changed},
        )
        await session.flush()
    return bot


async def _reconfigure(
    session: AsyncSession,
    user: UserIdentity,
    bot: Bot,
    changes: BotUpdate,
    markets: MarketRulesProvider,
    now: datetime,
) -> None:
    """Apply the configuration changes (config, paper, breaker, credential), validated together
    with what they leave unchanged, as a new bot would be."""
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
    if changes.paper is not None and changes.paper.model_dump(mode="json") != bot.paper:
        await _check_no_live_orders(session, bot)
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


async def _check_no_live_orders(session: AsyncSession, bot: Bot) -> None:
    """New paper settings open a new paper account at the next start: orders a stop left
    resting (``cancel_orders: false``) would stay behind on the old one, out of the bot's reach
    (none of them could fill or be cancelled again)."""
    live = await repository.count_live_orders(session, bot.id)
    if live:
        raise BotStatusConflict(
            f"the bot has {live} open order(s) on its paper account: cancel them first (start "
            "the bot and stop it with cancel_orders, the default), as new paper settings open "
            "a new paper account",
            bot,
        )


async def delete_bot(session: AsyncSession, user: UserIdentity, bot_id: uuid.UUID) -> None:
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
    await deliveries.drop_queued(session, bot.id, "the bot was deleted", utcnow())
    await repository.delete_bot(session, bot)
    logger.info("bot deleted bot_id=%s user_id=%s", bot_id, user.id)


_UNRESOLVED_ORDER_STATUSES = frozenset({*IN_FLIGHT_STATUSES, OrderStatus.PENDING_CANCEL})

_PARAMS: dict[BotType, TypeAdapter[Any]] = {
    BotType.GRID: TypeAdapter(GridParams),
    BotType.DCA: TypeAdapter(DcaParams),
    BotType.INDICATOR: TypeAdapter(IndicatorParams),
    BotType.SIGNAL: TypeAdapter(SignalBotParams),
    BotType.SMART_TRADE: TypeAdapter(SmartTradeParams),
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


# --- reported by the runtime (the worker holds the row, locked, in its own transaction) ---


async def mark_running(session: AsyncSession, bot: Bot) -> None:
    """starting -> running, once the runtime has the bot in hand."""
    bot.status = next_status(BotAction.CONFIRM_STARTED, BotStatus(bot.status))
    await finish_transition(session, bot, EventType.STARTED, "running", utcnow(), None, None)


async def mark_stopped(session: AsyncSession, bot: Bot) -> None:
    """stopping -> stopped, once the stop request has been carried out."""
    now = utcnow()
    bot.status = next_status(BotAction.CONFIRM_STOPPED, BotStatus(bot.status))
    bot.stopped_at = now
    bot.next_tick_at = None
    state = load_state(bot)
    asked = state.stop_request
    # A stop request with a reason was written by the runtime (the strategy, the replay's end):
    # the bot stopped by itself. Without one, its owner asked (the API, a chat command).
    bot.stop_initiator = STOPPED_BY_BOT if asked is not None and asked.reason else STOPPED_BY_OWNER
    data = {**(asked.to_json() if asked is not None else {}), "initiator": bot.stop_initiator}
    state.stop_request = None
    store_state(bot, state)
    await finish_transition(session, bot, EventType.STOPPED, "stopped", now, data, None)
    await deliveries.drop_queued(session, bot.id, "the bot stopped before acting on it", now)


async def mark_halted(session: AsyncSession, bot: Bot, reason: str) -> None:
    """The circuit breaker tripped: no new orders until a human resets it."""
    now = utcnow()
    if bot.status == BotStatus.STARTING:
        state = load_state(bot)
        state.start_pending = True
        store_state(bot, state)
    bot.status = next_status(BotAction.TRIP_BREAKER, BotStatus(bot.status))
    bot.breaker_reason = reason
    bot.breaker_tripped_at = now
    bot.stop_initiator = STOPPED_BY_BOT
    data = {"initiator": STOPPED_BY_BOT}
    await finish_transition(session, bot, EventType.BREAKER_TRIPPED, reason, now, data, None)


async def mark_error(session: AsyncSession, bot: Bot, message: str) -> None:
    """Something a human must look at (the strategy raised, the key was revoked...)."""
    bot.status = next_status(BotAction.FAIL, BotStatus(bot.status))
    bot.error = message
    bot.stop_initiator = STOPPED_BY_BOT
    data = {"initiator": STOPPED_BY_BOT}
    now = utcnow()
    await finish_transition(session, bot, EventType.ERROR, message, now, data, None)
    await deliveries.drop_queued(session, bot.id, "the bot failed before acting on it", now)
