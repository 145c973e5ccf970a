"""/api/v1/auth: register, log in, rotate and revoke tokens, who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from autogrid.api.deps import DatabaseDep, SessionDep, SettingsDep
from autogrid.auth import service
from autogrid.auth.dependencies import (
    AccessDenylistDep,
    BearerToken,
    ClientIP,
    CurrentUser,
    LoginGuardDep,
)
from autogrid.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    UserRead,
)
from autogrid.core.errors import ErrorResponse, Unauthorized
from autogrid.core.ratelimit import RateLimiterDep

router = APIRouter(prefix="/auth", tags=["auth"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "Email already registered"}
}


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=_CONFLICT,
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


@router.post("/token", response_model=TokenPair)
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


@router.post("/login", response_model=TokenPair)
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


@router.get("/me", response_model=UserRead)
async def me(user: CurrentUser) -> UserRead:
    """The authenticated user."""
    return UserRead.model_validate(user)
