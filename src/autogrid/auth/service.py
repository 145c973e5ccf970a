"""Registration, login, token rotation and revocation: the rules; the boundary commits.

Login throttling (per address and account pair, per address, per account with known addresses
exempt) is :mod:`autogrid.auth.login_guard`; it runs before the password is verified, so a
refused attempt costs no Argon2 work. A successful login is forgiven (its hits removed), so users
behind one NAT are only ever limited by failed attempts; forgiving only the one successful attempt
(rather than resetting the windows) means an attacker cannot clear their failures by logging into
an account of their own.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.auth import repository
from autogrid.auth.denylist import AccessCheck, AccessTokenDenylist
from autogrid.auth.login_guard import LoginGuard, client_network
from autogrid.auth.password_policy import assess_password, context_words
from autogrid.auth.passwords import (
    hash_password,
    needs_rehash,
    run_in_password_pool,
    verify_against_dummy,
    verify_password,
)
from autogrid.auth.schemas import EMAIL_ADAPTER, PASSWORD_MAX_LENGTH, TokenPair
from autogrid.auth.tokens import (
    IssuedToken,
    TokenType,
    decode_token,
    issue_access_token,
    issue_refresh_token,
)
from autogrid.auth.user_cache import AuthUserCache
from autogrid.core.config import Settings
from autogrid.core.errors import Conflict, Unauthorized, Unprocessable
from autogrid.core.ratelimit import RateLimiter, enforce_rate_limit
from autogrid.core.sqltypes import utcnow
from autogrid.models import AuthUser, Plan, RefreshToken, Role, User

logger = logging.getLogger(__name__)

# One message for unknown email, wrong password and deactivated account: none is revealed.
INVALID_CREDENTIALS = "incorrect email or password"
REGISTER_WINDOW_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class RefreshRejected:
    """A refused refresh whose side effects (a revoked family) must still be committed."""

    message: str


def normalize_login_email(raw: str) -> str:
    """Normalise like registration does; a malformed address simply matches no account."""
    try:
        return EMAIL_ADAPTER.validate_python(raw)
    except ValidationError:
        return raw.strip().lower()


class WeakPassword(Unprocessable):
    code = "weak_password"


async def check_password_strength(password: str, email: str, *, extra: Sequence[str] = ()) -> None:
    """422 ``weak_password`` for a common password or one made from the account's email."""
    context = context_words(email, extra)
    weakness = await run_in_password_pool(assess_password, password, context)
    if weakness is not None:
        raise WeakPassword(weakness.message, details=weakness.details())


async def register_user(
    session: AsyncSession, email: str, password: str, *, role: Role = Role.USER
) -> User:
    """Create an active free-plan user; ``email`` must already be normalised (lower-cased).

    A taken email is answered 409 (the API sends no email, so a client must be told), but only
    after the same strength check and Argon2 hash a new account costs: the answer's timing no
    longer tells a taken email from a free one, and the per-address registration limit bounds
    how many emails one address can probe.
    """
    await check_password_strength(password, email)
    password_hash = await hash_password(password)
    if await repository.get_user_by_email(session, email) is not None:
        raise Conflict("an account with this email already exists")
    user = User(
        id=uuid.uuid4(),
        email=email,
        password_hash=password_hash,
        role=role,
        plan=Plan.FREE,
        is_active=True,
    )
    if not await repository.insert_user(session, user):
        raise Conflict("an account with this email already exists")
    logger.info("user registered user_id=%s role=%s", user.id, role)
    return user


async def register(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    client_ip: str,
    email: str,
    password: str,
) -> User:
    await enforce_rate_limit(
        limiter,
        f"register:ip:{client_network(client_ip)}",
        settings.rate_limit_register_per_hour,
        REGISTER_WINDOW_SECONDS,
        "too many registrations from this address, try again later",
    )
    return await register_user(session, email, password)


async def authenticate_password(session: AsyncSession, email: str, password: str) -> User:
    """The user for these credentials, or the same 401 whatever was wrong."""
    if len(password) > PASSWORD_MAX_LENGTH:
        raise Unauthorized(INVALID_CREDENTIALS)
    user = await repository.get_user_by_email(session, email)
    if user is None:
        await verify_against_dummy(password)
        logger.info("login failed: unknown email")
        raise Unauthorized(INVALID_CREDENTIALS)
    if not await verify_password(user.password_hash, password):
        logger.info("login failed: wrong password user_id=%s", user.id)
        raise Unauthorized(INVALID_CREDENTIALS)
    if not user.is_active:
        logger.info("login refused: deactivated user_id=%s", user.id)
        raise Unauthorized(INVALID_CREDENTIALS)
    if needs_rehash(user.password_hash):
        # Parameters were raised since this hash was made; the plain password is at hand now only.
        user.password_hash = await hash_password(password)
        await session.flush()
    return user


async def login(
    session: AsyncSession,
    settings: Settings,
    guard: LoginGuard,
    client_ip: str,
    email: str,
    password: str,
) -> TokenPair:
    attempt = await guard.admit(client_ip, email)
    try:
        user = await authenticate_password(session, email, password)
    except Unauthorized:
        await guard.failed(attempt)
        raise
    await guard.succeeded(attempt)
    logger.info("login succeeded user_id=%s", user.id)
    return await start_session(session, settings, user)


def _mint_token_pair(
    settings: Settings, user: User, family_id: uuid.UUID, now: datetime
) -> tuple[TokenPair, IssuedToken]:
    version = user.token_version
    access = issue_access_token(
        settings, user.id, now, version=version, plan=user.plan, role=user.role
    )
    refresh = issue_refresh_token(settings, user.id, family_id, now, version=version)
    pair = TokenPair(
        access_token=access.token,
        refresh_token=refresh.token,
        expires_in=settings.access_token_ttl_seconds,
    )
    return pair, refresh


async def _record_refresh_token(
    session: AsyncSession,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    refresh: IssuedToken,
    now: datetime,
) -> None:
    await repository.add_refresh_token(
        session,
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            jti=refresh.jti,
            issued_at=now,
            expires_at=refresh.expires_at,
        ),
    )


async def start_session(session: AsyncSession, settings: Settings, user: User) -> TokenPair:
    """A new token pair, in a new refresh-token family, for a user who just proved who they are."""
    now, family_id = utcnow(), uuid.uuid4()
    pair, refresh = _mint_token_pair(settings, user, family_id, now)
    await _record_refresh_token(session, user.id, family_id, refresh, now)
    return pair


async def _reject_reuse(
    session: AsyncSession, token: RefreshToken, now: datetime
) -> RefreshRejected:
    # A retired token came back: either it was stolen or the thief already used it. Both
    # holders lose the session; the real user logs in again.
    revoked = await repository.revoke_family(session, token.family_id, now)
    # A rotated token coming back is the theft signal; one revoked by logout or an admin is not.
    level = logging.WARNING if token.replaced_by_jti is not None else logging.INFO
    logger.log(
        level,
        "retired refresh token presented user_id=%s family_id=%s rotated=%s revoked=%s",
        token.user_id,
        token.family_id,
        token.replaced_by_jti is not None,
        revoked,
    )
    return RefreshRejected("refresh token was already used or revoked; log in again")


async def rotate_refresh_token(
    session: AsyncSession, settings: Settings, refresh_token: str
) -> TokenPair | RefreshRejected:
    """Exchange a refresh token for a new pair, retiring it.

    Returns ``RefreshRejected`` (instead of raising) when the refusal revoked a family, because
    raising would roll that revocation back; the caller commits, then answers 401.
    """
    claims = decode_token(settings, refresh_token, TokenType.REFRESH)
    now = utcnow()
    token = await repository.lock_refresh_token(session, claims.jti)
    if token is None or token.user_id != claims.user_id:
        raise Unauthorized("unknown refresh token")
    if token.revoked_at is not None:
        return await _reject_reuse(session, token, now)
    if token.expires_at <= now:
        raise Unauthorized("token has expired")
    user = await repository.get_user_by_id(session, token.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("account is not active")
    if claims.version != user.token_version:
        # Logged out everywhere (or the password changed) since: closes the race where a
        # rotation committed a new row just after the revocation swept the table.
        raise Unauthorized("token has been revoked")
    pair, refresh = _mint_token_pair(settings, user, token.family_id, now)
    if not await repository.mark_rotated(session, token.id, refresh.jti, now):
        return await _reject_reuse(session, token, now)
    await _record_refresh_token(session, user.id, token.family_id, refresh, now)
    return pair


async def logout(
    session: AsyncSession,
    settings: Settings,
    denylist: AccessTokenDenylist,
    refresh_token: str,
    access_token: str | None,
) -> None:
    """Revoke the refresh token's whole family and, if presented, the access token's jti."""
    claims = decode_token(settings, refresh_token, TokenType.REFRESH)
    assert claims.family_id is not None  # decode_token guarantees it for refresh tokens
    await repository.revoke_family(session, claims.family_id, utcnow())
    if access_token:
        try:
            access = decode_token(settings, access_token, TokenType.ACCESS)
        except Unauthorized:
            return  # an invalid or expired access token is already unusable
        await denylist.deny(access.jti, access.expires_at)
    logger.info("logout user_id=%s family_id=%s", claims.user_id, claims.family_id)


# Opens a session to load a user's row with: called only when no cached copy will do.
SessionOpener = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def authenticate_access_token(
    open_session: SessionOpener,
    settings: Settings,
    denylist: AccessTokenDenylist,
    cache: AuthUserCache,
    token: str,
    prechecked: AccessCheck | None = None,
) -> AuthUser:
    """The active user behind a valid, unrevoked access token; 401 otherwise.

    The denylist entry and the user's auth epoch come in one round trip; the row is loaded only
    when this process holds no copy under that exact epoch (see ``user_cache``), so deactivation
    and role changes still apply at the very next request, not at expiry. ``prechecked``: the
    same two read earlier in this request (by the API rate limit's round trip), used only when
    they are this token's. ``open_session`` is called only to load the row: most requests build
    no session for authentication at all.
    """
    claims = decode_token(settings, token, TokenType.ACCESS)
    if prechecked is not None and prechecked.jti == claims.jti:
        denied, epoch = prechecked.denied, prechecked.epoch
    else:
        denied, epoch = await denylist.check(claims.jti, claims.user_id)
    if denied:
        raise Unauthorized("token has been revoked")
    user = cache.get(claims.user_id, epoch) if epoch is not None else None
    if user is None:
        # The epoch is read (or set) before the row: a change committed after this read bumps
        # it again, so the copy cached here can never outlive the change.
        if epoch is None:
            epoch = await denylist.ensure_epoch(claims.user_id)
        async with open_session() as session:
            row = await repository.get_user_by_id(session, claims.user_id)
            if row is None:
                raise Unauthorized("account is not active")
            user = AuthUser.of(row)
        cache.put(epoch, user)
    if not user.is_active:
        raise Unauthorized("account is not active")
    if claims.version != user.token_version:
        raise Unauthorized("token has been revoked")
    return user
