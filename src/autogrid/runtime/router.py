"""Runtime routes: cancel an order, a bot's stats and performance, the global kill switch."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, status
from pydantic import AwareDatetime

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import AdminUser, CurrentUser
from autogrid.bots.dependencies import get_bot_dispatcher
from autogrid.bots.dispatch import BotDispatcher
from autogrid.core.errors import ErrorResponse
from autogrid.models import KillSwitch
from autogrid.runtime import service
from autogrid.runtime.schemas import (
    BotMetrics,
    BotStats,
    CancelAccepted,
    KillSwitchEngage,
    KillSwitchRead,
    MetricInterval,
    MetricPointRead,
)

router = APIRouter(tags=["runtime"])

_NOT_CANCELLABLE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "The order is already over (details.status)"}
}
_ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Admin role required"}
}
DispatcherDep = Annotated[BotDispatcher, Depends(get_bot_dispatcher)]


async def _tick_soon(dispatcher: BotDispatcher, bot_id: uuid.UUID) -> None:
    """After commit: ask the runtime to tick the bot now (the claim would within its interval)."""
    request_tick = getattr(dispatcher, "request_tick", None)
    if request_tick is not None:
        await request_tick(bot_id)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=CancelAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_NOT_CANCELLABLE,
)
async def cancel_order(
    order_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    background: BackgroundTasks,
    dispatcher: DispatcherDep,
) -> CancelAccepted:
    """Cancel one of your orders: committed now, sent to the exchange by the bot's next tick."""
    result = await service.cancel_order(session, user, order_id)
    if result.pending:
        background.add_task(_tick_soon, dispatcher, result.order.bot_id)
    return CancelAccepted(
        order_id=result.order.id,
        status=result.status.value,
        cancel_pending=result.pending,
        amount=result.order.amount,
        filled=result.order.filled,
    )


@router.get("/bots/{bot_id}/stats", response_model=BotStats)
async def bot_stats(bot_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BotStats:
    """A bot's P&L, fees, position, average entry, ROI and trade count, from its fills."""
    return await service.bot_stats(session, user, bot_id)


@router.get("/bots/{bot_id}/metrics", response_model=BotMetrics)
async def bot_metrics(
    bot_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    interval: MetricInterval = MetricInterval.H1,
    since: Annotated[AwareDatetime | None, Query(description="default: 7 days ago")] = None,
    until: Annotated[AwareDatetime | None, Query(description="default: now")] = None,
) -> BotMetrics:
    """A bot's equity, P&L and position over time, one point per interval."""
    start, end, points = await service.bot_metrics(session, user, bot_id, interval, since, until)
    return BotMetrics(
        bot_id=bot_id,
        interval=interval,
        since=start,
        until=end,
        points=[
            MetricPointRead(
                ts=p.ts,
                equity=p.equity,
                realized_pnl=p.realized_pnl,
                unrealized_pnl=p.unrealized_pnl,
                position=p.position,
                price=p.price,
            )
            for p in points
        ],
    )


def _kill_switch_read(row: KillSwitch | None, halted: int | None = None) -> KillSwitchRead:
    if row is None:
        return KillSwitchRead(engaged=False, reason=None, changed_by=None, changed_at=None)
    return KillSwitchRead(
        engaged=row.engaged,
        reason=row.reason,
        changed_by=row.changed_by,
        changed_at=row.changed_at,
        halted_bots=halted,
    )


@router.get(
    "/admin/kill-switch", response_model=KillSwitchRead, tags=["admin"], responses=_ADMIN_ONLY
)
async def kill_switch_status(admin: AdminUser, session: SessionDep) -> KillSwitchRead:
    """Whether the global kill switch is engaged."""
    return _kill_switch_read(await service.kill_switch_status(session))


@router.post(
    "/admin/kill-switch", response_model=KillSwitchRead, tags=["admin"], responses=_ADMIN_ONLY
)
async def engage_kill_switch(
    body: KillSwitchEngage, admin: AdminUser, session: SessionDep
) -> KillSwitchRead:
    """Halt every bot at once and deny new orders everywhere (cancels still go through)."""
    row, halted = await service.engage_kill_switch(session, admin, body.reason)
    return _kill_switch_read(row, halted)


@router.post(
    "/admin/kill-switch/release",
    response_model=KillSwitchRead,
    tags=["admin"],
    responses={**_ADMIN_ONLY, 409: {"model": ErrorResponse, "description": "Not engaged"}},
)
async def release_kill_switch(admin: AdminUser, session: SessionDep) -> KillSwitchRead:
    """Allow new orders again; halted bots stay halted until their owners reset them."""
    return _kill_switch_read(await service.release_kill_switch(session, admin))
