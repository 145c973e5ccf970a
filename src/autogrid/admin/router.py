"""/api/v1/admin: user administration (admin role only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from autogrid.admin import service
from autogrid.admin.schemas import AdminUserUpdate
from autogrid.api.deps import SessionDep
from autogrid.auth.dependencies import AdminUser
from autogrid.auth.schemas import UserRead
from autogrid.core.errors import ErrorResponse
from autogrid.core.pagination import Page, PageDep

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
    user_id: uuid.UUID, body: AdminUserUpdate, admin: AdminUser, session: SessionDep
) -> UserRead:
    """Change a user's plan, role or active flag."""
    user = await service.update_user(session, admin, user_id, body)
    return UserRead.model_validate(user)
