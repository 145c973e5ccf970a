"""/api/v1/admin/kill-switch: read, engage and release the global kill switch (admins only);
/api/v1/account/limits: a user's own limits over all their bots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import AdminUser, CurrentUser
from autogrid.core.errors import ErrorResponse
from autogrid.models import AccountLimit, KillSwitch
from autogrid.risk import service
from autogrid.risk.schemas import (
    AccountLimitsBody,
    AccountLimitsRead,
    KillSwitchEngage,
    KillSwitchRead,
)
from autogrid.trading.account_limits import AccountLimits

# The OpenAPI tags predate this package: kept so generated clients do not move the operations.
router = APIRouter()

_ADMIN_ONLY: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "Admin role required"}
}


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


def _limits_read(row: AccountLimit | None) -> AccountLimitsRead:
    if row is None:
        return AccountLimitsRead(updated_at=None)
    return AccountLimitsRead(
        max_trades_per_day=row.max_trades_per_day,
        max_daily_loss=row.max_daily_loss,
        max_risk_per_trade_pct=row.max_risk_per_trade_pct,
        max_open_positions=row.max_open_positions,
        updated_at=row.updated_at,
    )


@router.get("/account/limits", response_model=AccountLimitsRead, tags=["account"])
async def get_account_limits(user: CurrentUser, session: SessionDep) -> AccountLimitsRead:
    """Your limits over all your bots (null: no limit)."""
    return _limits_read(await service.account_limits(session, user))


@router.put("/account/limits", response_model=AccountLimitsRead, tags=["account"])
async def put_account_limits(
    body: AccountLimitsBody, user: CurrentUser, session: SessionDep
) -> AccountLimitsRead:
    """Replace your limits; a field left out or null removes that limit."""
    limits = AccountLimits(
        max_trades_per_day=body.max_trades_per_day,
        max_daily_loss=body.max_daily_loss,
        max_risk_per_trade_pct=body.max_risk_per_trade_pct,
        max_open_positions=body.max_open_positions,
    )
    return _limits_read(await service.set_account_limits(session, user, limits))
