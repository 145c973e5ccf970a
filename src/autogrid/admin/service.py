"""User administration rules: plans, roles, activation."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.admin import repository
from autogrid.admin.schemas import AdminUserUpdate
from autogrid.auth import repository as auth_repository
from autogrid.auth.denylist import AccessTokenDenylist
from autogrid.auth.user_cache import invalidate_cached_user
from autogrid.core.errors import Conflict, NotFound
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.models import AuthUser, Role, User

logger = logging.getLogger(__name__)


async def list_users(
    session: AsyncSession, page: PageParams, email_contains: str | None
) -> tuple[Sequence[User], int]:
    return await repository.list_users(session, email_contains, page.limit, page.offset)


async def update_user(
    session: AsyncSession,
    denylist: AccessTokenDenylist,
    admin: AuthUser,
    user_id: uuid.UUID,
    changes: AdminUserUpdate,
) -> User:
    user = await auth_repository.get_user_by_id(session, user_id)
    if user is None:
        raise NotFound("user not found")
    if user.id == admin.id and (
        changes.is_active is False or (changes.role is not None and changes.role != Role.ADMIN)
    ):
        # Guards against locking the last administrator out by accident.
        raise Conflict("admins cannot deactivate or demote themselves")
    if changes.plan is not None:
        user.plan = changes.plan
    if changes.role is not None:
        user.role = changes.role
    if changes.is_active is not None:
        was_active = user.is_active
        user.is_active = changes.is_active
        if was_active and not changes.is_active:
            # Access tokens die on their next request (the epoch bump below); refresh tokens are
            # revoked now so a later reactivation does not revive old sessions.
            await auth_repository.revoke_all_for_user(session, user.id, utcnow())
    await session.flush()
    # Every process's copy of the user is stale: the role, plan or active flag apply at once.
    await invalidate_cached_user(session, denylist, user.id)
    logger.info(
        "admin updated user admin_id=%s user_id=%s changes=%s",
        admin.id,
        user.id,
        changes.model_dump(exclude_none=True, mode="json"),
    )
    return user
