"""JSON Web Tokens: HS256 only, a type claim per purpose, and a jti for revocation.

Pure functions of (settings, now): no database or clock of their own, so expiry is testable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache

import jwt

from autogrid.core.config import Settings
from autogrid.core.errors import Unauthorized

# Pinned: decoding never trusts the token's own "alg" header (no "none", no algorithm confusion).
ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "type", "jti", "iat", "exp"]
# Verified access tokens remembered per process (about 400 bytes each with their claims).
VERIFIED_ACCESS_TOKENS = 4096


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: uuid.UUID
    type: TokenType
    jti: str
    expires_at: datetime
    family_id: uuid.UUID | None
    # The user's token_version when it was issued; 0 for tokens made before versions existed.
    version: int = 0
    # Access tokens carry the user's plan and role when issued, so the API rate limit can pick the
    # caller's budget without a database query (None in older tokens). Authorization never reads
    # them: a role or plan change takes effect for limits at the next refresh.
    plan: str | None = None
    role: str | None = None


def new_jti() -> str:
    return uuid.uuid4().hex


def _encode(settings: Settings, claims: dict[str, object]) -> str:
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


def issue_access_token(
    settings: Settings,
    user_id: uuid.UUID,
    now: datetime,
    *,
    version: int = 0,
    plan: str | None = None,
    role: str | None = None,
) -> IssuedToken:
    jti = new_jti()
    expires_at = now + timedelta(seconds=settings.access_token_ttl_seconds)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "type": TokenType.ACCESS.value,
        "jti": jti,
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    if plan is not None:
        claims["plan"] = plan
    if role is not None:
        claims["role"] = role
    return IssuedToken(token=_encode(settings, claims), jti=jti, expires_at=expires_at)


def issue_refresh_token(
    settings: Settings,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    now: datetime,
    *,
    version: int = 0,
) -> IssuedToken:
    jti = new_jti()
    expires_at = now + timedelta(seconds=settings.refresh_token_ttl_seconds)
    token = _encode(
        settings,
        {
            "sub": str(user_id),
            "type": TokenType.REFRESH.value,
            "jti": jti,
            "ver": version,
            "family_id": str(family_id),
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        },
    )
    return IssuedToken(token=token, jti=jti, expires_at=expires_at)


def decode_token(
    settings: Settings, token: str, expected: TokenType, *, now: float | None = None
) -> TokenClaims:
    """Verify signature, expiry and purpose; any failure is the same kind of 401.

    An access token's verified claims are remembered (every request carries one, often twice
    over: the rate limit reads it too), keyed by the secret and the whole token text, so a hit
    is exactly a token already verified with this secret; its expiry is checked again on every
    use, against ``now`` (seconds since the epoch; the current time by default). Failures are
    never remembered. Revocation is not decided here: the caller checks it on every request.
    """
    if expected is TokenType.ACCESS:
        claims = _verified_access(settings.jwt_secret, token)
    else:
        claims = _verify(settings.jwt_secret, token, expected)
    # The rule PyJWT applies: expired once exp <= now.
    if claims.expires_at.timestamp() <= (time.time() if now is None else now):
        raise Unauthorized("token has expired")
    return claims


@lru_cache(maxsize=VERIFIED_ACCESS_TOKENS)
def _verified_access(secret: str, token: str) -> TokenClaims:
    return _verify(secret, token, TokenType.ACCESS)


def _verify(secret: str, token: str, expected: TokenType) -> TokenClaims:
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": _REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as error:
        raise Unauthorized("token has expired") from error
    except jwt.PyJWTError as error:
        raise Unauthorized("invalid token") from error
    if payload.get("type") != expected.value:
        # Stops a long-lived refresh token from being used as an access token and vice versa.
        raise Unauthorized(f"expected an {expected.value} token")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        family_raw = payload.get("family_id")
        family_id = uuid.UUID(str(family_raw)) if family_raw is not None else None
        jti = str(payload["jti"])
        expires_at = datetime.fromtimestamp(int(payload["exp"]), tz=UTC)
        version = int(payload.get("ver", 0))
        plan, role = _optional_text(payload, "plan"), _optional_text(payload, "role")
    except (ValueError, TypeError) as error:
        raise Unauthorized("invalid token") from error
    if expected is TokenType.REFRESH and family_id is None:
        raise Unauthorized("invalid token")
    return TokenClaims(
        user_id=user_id,
        type=expected,
        jti=jti,
        expires_at=expires_at,
        family_id=family_id,
        version=version,
        plan=plan,
        role=role,
    )


def _optional_text(payload: dict[str, object], claim: str) -> str | None:
    value = payload.get(claim)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{claim} claim is not a string")
    return value
