"""Who is calling: ``CurrentUser`` and ``AdminUser`` for every router, plus auth plumbing.

Later domains chain ownership on these, e.g. ``owned_bot(bot_id, user: CurrentUser, ...)``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from autogrid.api.deps import SessionDep, get_database
from autogrid.api.rate_limit_middleware import ACCESS_CHECK_STATE
from autogrid.auth import service
from autogrid.auth.denylist import AccessCheck, AccessTokenDenylist, create_access_denylist
from autogrid.auth.login_guard import LoginGuard
from autogrid.auth.user_cache import AuthUserCache
from autogrid.core.config import Settings
from autogrid.core.errors import Forbidden, Unauthorized
from autogrid.models import AuthUser, User

# auto_error=False: a missing token is raised as our own 401, in the one error shape.
TOKEN_URL = "/api/v1/auth/token"  # noqa: S105 (a path, not a secret)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl=TOKEN_URL, auto_error=False)

BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


def get_access_denylist(request: Request) -> AccessTokenDenylist:
    """The app's denylist; built on first use if the lifespan did not create one."""
    state = request.app.state
    denylist: AccessTokenDenylist | None = getattr(state, "access_denylist", None)
    if denylist is None:
        # Must live as long as the app: an in-memory list rebuilt per request would forget.
        denylist = create_access_denylist(state.settings, state.redis)
        state.access_denylist = denylist
    return denylist


async def _access_denylist_dep(request: Request) -> AccessTokenDenylist:
    # async: a plain ``def`` dependency would run in the thread pool, a thread hop per request.
    return get_access_denylist(request)


AccessDenylistDep = Annotated[AccessTokenDenylist, Depends(_access_denylist_dep)]


async def get_login_guard(request: Request) -> LoginGuard:
    guard: LoginGuard = request.app.state.login_guard
    return guard


LoginGuardDep = Annotated[LoginGuard, Depends(get_login_guard)]


async def client_ip(request: Request) -> str:
    """The peer address; behind a proxy, run uvicorn with --proxy-headers so this is the client."""
    return request.client.host if request.client else "unknown"


ClientIP = Annotated[str, Depends(client_ip)]


def get_auth_user_cache(request: Request) -> AuthUserCache:
    """The app's cache, made with its other resources at start-up and closed with them."""
    cache: AuthUserCache = request.app.state.auth_user_cache
    return cache


async def get_current_user(request: Request, token: str | None) -> AuthUser:
    """The user ``token`` (the request's bearer token) signs in, or 401."""
    if not token:
        raise Unauthorized("not authenticated")
    # The settings, the denylist and the cache are read off the app here rather than declared
    # as dependencies: every authenticated request resolves this, and each dependency costs
    # FastAPI a resolution of its own.
    settings: Settings = request.app.state.settings
    denylist = get_access_denylist(request)
    cache = get_auth_user_cache(request)
    # Left by the API rate limit when it read the denylist entry and epoch with its hit.
    prechecked: AccessCheck | None = getattr(request.state, ACCESS_CHECK_STATE, None)
    # A read session of its own when the user's row must be loaded, not the request's
    # (``SessionDep``): a read route then needs no unit of work at all.
    return await service.authenticate_access_token(
        get_database(request).statement_scope, settings, denylist, cache, token, prechecked
    )


class _SignedInUser(OAuth2PasswordBearer):
    """The bearer scheme that also authenticates its token: one dependency where the scheme and
    the user were two, each resolved by FastAPI at every authenticated request (about 75 Python
    calls a level). OpenAPI sees the same scheme, under the same name."""

    async def __call__(self, request: Request) -> AuthUser:  # type: ignore[override]
        return await get_current_user(request, await super().__call__(request))


signed_in_user = _SignedInUser(
    tokenUrl=TOKEN_URL,
    scheme_name=oauth2_scheme.scheme_name,
    auto_error=False,
)


# The signed-in user as an immutable copy: for every route that only reads who is calling.
CurrentUser = Annotated[AuthUser, Depends(signed_in_user)]


async def get_current_user_row(user: CurrentUser, session: SessionDep) -> User:
    # Authenticated above (denylist, epoch, active, version); the row is for writing to it.
    row = await session.get(User, user.id)
    if row is None:
        raise Unauthorized("account is not active")
    return row


# The signed-in user's row, attached to the request's session: for routes that change the user.
CurrentUserRow = Annotated[User, Depends(get_current_user_row)]


async def get_admin_user(user: CurrentUser) -> AuthUser:
    if not user.is_admin:
        raise Forbidden("admin role required")
    return user


AdminUser = Annotated[AuthUser, Depends(get_admin_user)]
