"""The global kill switch: engaged by an admin, it halts every active bot at once and every
step refuses new orders while it stays engaged. A user's account limits over all their bots
(checked by every decision with an entry: ``risk.standing``). Services flush; the request
commits."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.core.errors import Conflict
from autogrid.core.sqltypes import utcnow
from autogrid.engine import repository as engine_rows
from autogrid.engine.guard import count_trip, halt
from autogrid.events.journal import record_for_bot_owners
from autogrid.events.types import EventType
from autogrid.models import (
    GLOBAL_KILL_SWITCH,
    AccountLimit,
    BotStatus,
    KillSwitch,
    UserIdentity,
)
from autogrid.risk import repository
from autogrid.trading.account_limits import AccountLimits
from autogrid.trading.risk import TripCode

logger = logging.getLogger(__name__)

_KILLABLE = (BotStatus.STARTING, BotStatus.RUNNING, BotStatus.PAUSED)


async def kill_switch_status(session: AsyncSession) -> KillSwitch | None:
    return await repository.kill_switch(session)


async def engage_kill_switch(
    session: AsyncSession, admin: UserIdentity, reason: str
) -> tuple[KillSwitch, int]:
    """Engage (idempotent) and halt every starting, running or paused bot at once. Every tick
    also reads the switch, so a bot started later, or a tick mid-way, is stopped too."""
    now = utcnow()
    row = await repository.kill_switch(session)
    if row is None:
        row = KillSwitch(scope=GLOBAL_KILL_SWITCH, engaged=True, changed_at=now)
        repository.add_kill_switch(session, row)
    row.engaged, row.reason, row.changed_by, row.changed_at = True, reason, admin.id, now
    await session.flush()
    await record_for_bot_owners(
        session,
        EventType.KILL_SWITCH_ENGAGED,
        f"trading is stopped for every bot: {reason}",
        now,
        {"reason": reason},
    )
    halted = 0
    for bot in await engine_rows.bots_in(session, _KILLABLE):
        locked = await bot_rows.lock_bot_row(session, bot.id)
        if locked is not None and await halt(session, locked, f"kill switch: {reason}"):
            halted += 1
    for _ in range(halted):
        count_trip(TripCode.KILL_SWITCH)
    logger.warning("kill switch engaged by %s (%s): %d bots halted", admin.id, reason, halted)
    return row, halted


async def release_kill_switch(session: AsyncSession, admin: UserIdentity) -> KillSwitch:
    """New orders are allowed again; halted bots stay halted until their owners reset them."""
    row = await repository.kill_switch(session)
    if row is None or not row.engaged:
        raise Conflict("the kill switch is not engaged")
    row.engaged, row.changed_by, row.changed_at = False, admin.id, utcnow()
    await session.flush()
    await record_for_bot_owners(
        session,
        EventType.KILL_SWITCH_RELEASED,
        "trading is allowed again; halted bots stay halted until reset",
        row.changed_at,
        {},
    )
    logger.warning("kill switch released by %s", admin.id)
    return row


async def account_limits(session: AsyncSession, user: UserIdentity) -> AccountLimit | None:
    return await repository.account_limits(session, user.id)


async def set_account_limits(
    session: AsyncSession, user: UserIdentity, limits: AccountLimits
) -> AccountLimit:
    """Replace the user's limits. Takes the same row lock as a deciding bot, so a decision
    checks its entries against the old limits or the new ones, never half of each."""
    row = await repository.lock_account_limits(session, user.id)
    if row is None:
        row = AccountLimit(user_id=user.id, updated_at=utcnow())
        repository.add_account_limits(session, row)
    row.max_trades_per_day = limits.max_trades_per_day
    row.max_daily_loss = limits.max_daily_loss
    row.max_risk_per_trade_pct = limits.max_risk_per_trade_pct
    row.max_open_positions = limits.max_open_positions
    row.updated_at = utcnow()
    await session.flush()
    return row
