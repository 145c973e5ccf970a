"""/api/v1/admin: users, every user's bots, the worker fleet and recent problems (admins only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from autogrid.admin import fleet, service
from autogrid.admin.schemas import AdminBotRead, AdminUserUpdate, FleetRead, ProblemPage
from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import AccessDenylistDep, AdminUser
from autogrid.auth.schemas import UserRead
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep
from autogrid.events.types import PROBLEM_TYPES, EventType
from autogrid.models.bot import BotStatus
from autogrid.worker.fleet import FleetView, probe_fleet

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    responses={403: {"model": ErrorResponse, "description": "Admin role required"}},
)


@router.get("/users", response_model=Page[UserRead])
async def list_users(
    admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    email: Annotated[
        str | None, Query(max_length=320, description="case-insensitive substring of the email")
    ] = None,
) -> Page[UserRead]:
    """List users, oldest first."""
    users, total = await service.list_users(session, page, email)
    return Page[UserRead](
        items=[UserRead.model_validate(user) for user in users],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Admins cannot deactivate or demote themselves"}
}


@router.patch("/users/{user_id}", response_model=UserRead, responses=_CONFLICT)
async def update_user(
    user_id: uuid.UUID,
    body: AdminUserUpdate,
    admin: AdminUser,
    session: SessionDep,
    denylist: AccessDenylistDep,
) -> UserRead:
    """Change a user's plan, role or active flag."""
    user = await service.update_user(session, denylist, admin, user_id, body)
    return UserRead.model_validate(user)


@router.get("/bots", response_model=Page[AdminBotRead])
async def list_all_bots(
    admin: AdminUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[list[BotStatus] | None, Query(description="repeat to allow several")] = None,
    errored: Annotated[
        bool | None,
        Query(description="true: only bots with an error or a breaker reason; false: only without"),
    ] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="one user's bots")] = None,
) -> Page[AdminBotRead]:
    """Every user's bots, most recently changed first, with their owner and what is wrong."""
    bots, total = await fleet.list_bots(
        session, page, statuses=[s.value for s in status or ()], errored=errored, user_id=user_id
    )
    return Page[AdminBotRead](items=bots, total=total, limit=page.limit, offset=page.offset)


@router.get("/fleet", response_model=FleetRead)
async def fleet_status(admin: AdminUser, session: SessionDep, request: Request) -> FleetRead:
    """The workers consuming (as the broker sees them), queue depths, bots by status, tick lag."""
    settings = request.app.state.settings
    celery_app = request.app.state.bot_dispatcher.celery_app()

    def probe() -> FleetView:
        return probe_fleet(celery_app, settings)

    return await fleet.fleet(session, probe)


@router.get("/errors", response_model=ProblemPage)
async def recent_errors(
    admin: AdminUser,
    session: SessionDep,
    type: Annotated[
        list[EventType] | None,
        Query(
            description="problem types to show (repeat); default: "
            + ", ".join(sorted(PROBLEM_TYPES))
        ),
    ] = None,
    before_id: Annotated[int | None, Query(ge=1, description="older than this event id")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProblemPage:
    """Recent problems of every user (errors, breaker trips, orders given up...), newest first."""
    return await fleet.problems(session, types=type or (), before_id=before_id, limit=limit)
