"""A signed-in user's own account: change the password, log out everywhere.

Both bump the user's ``token_version`` (every access token issued before stops working at once,
not at expiry) and revoke every refresh token the user holds. A password change hands the caller
a fresh token pair, so the device that changed it stays signed in while every other is logged out.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.auth import repository
from autogrid.auth.denylist import AccessTokenDenylist
from autogrid.auth.login_guard import LoginGuard
from autogrid.auth.passwords import hash_password, verify_password
from autogrid.auth.schemas import TokenPair
from autogrid.auth.service import check_password_strength, start_session
from autogrid.auth.user_cache import invalidate_cached_user
from autogrid.core.config import Settings
from autogrid.core.errors import Forbidden
from autogrid.core.sqltypes import utcnow
from autogrid.models import User

logger = logging.getLogger(__name__)


async def _revoke_every_session(
    session: AsyncSession, denylist: AccessTokenDenylist, user: User
) -> int:
    version = await repository.bump_token_version(session, user)
    await invalidate_cached_user(session, denylist, user.id)
    revoked = await repository.revoke_all_for_user(session, user.id, utcnow())
    logger.info(
        "every session revoked user_id=%s token_version=%s refresh_tokens=%s",
        user.id,
        version,
        revoked,
    )
    return revoked


async def change_password(
    session: AsyncSession,
    settings: Settings,
    denylist: AccessTokenDenylist,
    guard: LoginGuard,
    client_ip: str,
    user: User,
    current_password: str,
    new_password: str,
) -> TokenPair:
    """Check the current password (throttled like a login), then replace it and log out others.

    A stolen access token alone cannot take the account over: the current password is required,
    and guessing it is slowed exactly like guessing at the login.
    """
    attempt = await guard.admit(client_ip, user.email)
    if not await verify_password(user.password_hash, current_password):
        await guard.failed(attempt)
        logger.info("password change refused: wrong current password user_id=%s", user.id)
        raise Forbidden("the current password is incorrect")
    await guard.succeeded(attempt)
    # The old password is context too: "MyPassword1" -> "MyPassword2" is no change at all.
    await check_password_strength(new_password, user.email, extra=(current_password,))
    user.password_hash = await hash_password(new_password)
    await session.flush()
    await _revoke_every_session(session, denylist, user)
    logger.info("password changed user_id=%s", user.id)
    return await start_session(session, settings, user)


async def log_out_everywhere(
    session: AsyncSession, denylist: AccessTokenDenylist, user: User
) -> None:
    """Every access and refresh token of the user stops working, this request's included."""
    await _revoke_every_session(session, denylist, user)
