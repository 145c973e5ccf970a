"""/api/v1/auth: register, log in, rotate and revoke tokens, change the password, who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from autogrid.api.deps import DatabaseDep, SessionDep, SettingsDep
from autogrid.auth import account, service
from autogrid.auth.dependencies import (
    AccessDenylistDep,
    BearerToken,
    ClientIP,
    CurrentUser,
    CurrentUserRow,
    LoginGuardDep,
)
from autogrid.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    PasswordChange,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserRead,
)
from autogrid.core.errors import ErrorResponse, Unauthorized
from autogrid.core.ratelimit import RateLimiterDep

router = APIRouter(prefix="/auth", tags=["auth"])

_INVALID_OR_WEAK = "Invalid input, or a password too easy to guess (code weak_password)"
_REGISTER_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Email already registered"},
    422: {"model": ErrorResponse, "description": _INVALID_OR_WEAK},
    429: {"model": ErrorResponse, "description": "Too many registrations from this address"},
}
_LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Incorrect email or password"},
    429: {
        "model": ErrorResponse,
        "description": "Too many attempts; wait the Retry-After seconds (they grow with failures)",
    },
}
_PASSWORD_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "Not authenticated"},
    403: {"model": ErrorResponse, "description": "The current password is incorrect"},
    422: {"model": ErrorResponse, "description": _INVALID_OR_WEAK},
    429: {"model": ErrorResponse, "description": "Too many wrong current passwords; Retry-After"},
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=_REGISTER_ERRORS,
)
async def register(
    body: RegisterRequest,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    ip: ClientIP,
) -> UserRead:
    """Create an account."""
    user = await service.register(session, settings, limiter, ip, body.email, body.password)
    return UserRead.model_validate(user)


@router.post("/token", response_model=TokenPair, responses=_LOGIN_ERRORS)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    guard: LoginGuardDep,
    ip: ClientIP,
) -> TokenPair:
    """Log in with an OAuth2 password form (username = email); used by Swagger's Authorize."""
    email = service.normalize_login_email(form.username)
    return await service.login(session, settings, guard, ip, email, form.password)


@router.post("/login", response_model=TokenPair, responses=_LOGIN_ERRORS)
async def login(
    body: LoginRequest,
    session: SessionDep,
    settings: SettingsDep,
    guard: LoginGuardDep,
    ip: ClientIP,
) -> TokenPair:
    """Log in with email and password."""
    return await service.login(session, settings, guard, ip, body.email, body.password)


@router.post("/refresh", response_model=TokenPair)
async def refresh(body: RefreshRequest, database: DatabaseDep, settings: SettingsDep) -> TokenPair:
    """Exchange a refresh token for a new token pair (the old one stops working)."""
    # This route owns its transaction: a refused reuse must commit the family revocation before
    # answering 401, and the request session would roll back on the raised error.
    async with database.session_scope() as session:
        outcome = await service.rotate_refresh_token(session, settings, body.refresh_token)
    if isinstance(outcome, service.RefreshRejected):
        raise Unauthorized(outcome.message)
    return outcome


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(
    body: LogoutRequest,
    session: SessionDep,
    settings: SettingsDep,
    denylist: AccessDenylistDep,
    access_token: BearerToken,
) -> None:
    """Revoke the refresh token's session and, if sent, the bearer access token."""
    await service.logout(session, settings, denylist, body.refresh_token, access_token)


@router.post("/password", response_model=TokenPair, responses=_PASSWORD_ERRORS)
async def change_password(
    body: PasswordChange,
    user: CurrentUserRow,
    session: SessionDep,
    settings: SettingsDep,
    denylist: AccessDenylistDep,
    guard: LoginGuardDep,
    ip: ClientIP,
) -> TokenPair:
    """Change the password; every other session is logged out, this one gets a new token pair.

    Requires the current password (wrong: 403, throttled like a login). The new one must not be
    common or made from the email or the old password (422 ``weak_password``).
    """
    return await account.change_password(
        session, settings, denylist, guard, ip, user, body.current_password, body.new_password
    )


@router.post("/logout-all", status_code=status.HTTP_204_NO_CONTENT)
async def logout_all(
    user: CurrentUserRow, session: SessionDep, denylist: AccessDenylistDep
) -> None:
    """Log out everywhere: every access and refresh token of the account stops working now."""
    await account.log_out_everywhere(session, denylist, user)


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> UserRead:
    """The authenticated user."""
    return UserRead.model_validate(user)
