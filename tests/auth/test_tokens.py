from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from autogrid.auth.tokens import TokenType, decode_token, issue_access_token, issue_refresh_token
from autogrid.core.config import Settings
from autogrid.core.errors import Unauthorized
from autogrid.core.sqltypes import utcnow
from tests.helpers import ApiUser, assert_error_shape

ME = "/api/v1/auth/me"


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


async def assert_rejected_as_access(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert_error_shape(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_claims_are_complete(settings: Settings) -> None:
    user_id, family_id, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    access_token = issue_access_token(settings, user_id, now).token
    access = claims_of(access_token)
    refresh = claims_of(issue_refresh_token(settings, user_id, family_id, now).token)
    assert access["sub"] == refresh["sub"] == str(user_id)
    assert access["type"] == "access" and refresh["type"] == "refresh"
    assert refresh["family_id"] == str(family_id) and "family_id" not in access
    assert access["exp"] == int(now.timestamp()) + settings.access_token_ttl_seconds
    assert refresh["exp"] == int(now.timestamp()) + settings.refresh_token_ttl_seconds
    assert access["jti"] != refresh["jti"]
    assert jwt.get_unverified_header(access_token)["alg"] == "HS256"


def test_decode_round_trip(settings: Settings) -> None:
    user_id, family_id = uuid.uuid4(), uuid.uuid4()
    issued = issue_refresh_token(settings, user_id, family_id, utcnow())
    claims = decode_token(settings, issued.token, TokenType.REFRESH)
    assert (claims.user_id, claims.family_id, claims.jti) == (user_id, family_id, issued.jti)


def test_access_tokens_carry_the_plan_and_role_they_were_issued_for(
    settings: Settings, user: ApiUser
) -> None:
    # What the API rate limit reads to pick the caller's budget without a database query.
    access = claims_of(user.access_token)
    assert (access["plan"], access["role"]) == ("free", "user")
    assert "plan" not in claims_of(user.refresh_token)
    claims = decode_token(settings, user.access_token, TokenType.ACCESS)
    assert (claims.plan, claims.role) == ("free", "user")
    older = issue_access_token(settings, user.id, utcnow()).token
    assert decode_token(settings, older, TokenType.ACCESS).plan is None


async def test_valid_token_is_accepted(client: httpx.AsyncClient, user: ApiUser) -> None:
    # The control for every rejection below.
    assert (await client.get(ME, headers=user.headers)).status_code == 200


async def test_tampered_payload_is_rejected(client: httpx.AsyncClient, user: ApiUser) -> None:
    header, _payload, signature = user.access_token.split(".")
    claims = claims_of(user.access_token)
    claims["sub"] = str(uuid.uuid4())
    await assert_rejected_as_access(client, f"{header}.{b64(claims)}.{signature}")


async def test_token_signed_with_another_secret_is_rejected(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    forged = jwt.encode(claims_of(user.access_token), "another-secret-" + "z" * 32, "HS256")
    await assert_rejected_as_access(client, forged)


async def test_alg_none_is_rejected(client: httpx.AsyncClient, user: ApiUser) -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims_of(user.access_token))}."
    await assert_rejected_as_access(client, unsigned)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_algorithm_with_the_right_secret_is_rejected(
    client: httpx.AsyncClient, settings: Settings, user: ApiUser
) -> None:
    hs512 = jwt.encode(claims_of(user.access_token), settings.jwt_secret, algorithm="HS512")
    await assert_rejected_as_access(client, hs512)


async def test_expired_access_token_is_rejected(
    client: httpx.AsyncClient, settings: Settings, user: ApiUser
) -> None:
    past = utcnow() - timedelta(seconds=settings.access_token_ttl_seconds + 5)
    expired = issue_access_token(settings, user.id, past).token
    response = await client.get(ME, headers={"Authorization": f"Bearer {expired}"})
    assert_error_shape(response, 401, "unauthorized")
    assert "expired" in response.json()["error"]["message"]


async def test_expired_refresh_token_is_rejected(
    client: httpx.AsyncClient, settings: Settings, user: ApiUser
) -> None:
    past = utcnow() - timedelta(seconds=settings.refresh_token_ttl_seconds + 5)
    expired = issue_refresh_token(settings, user.id, uuid.uuid4(), past).token
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": expired})
    assert_error_shape(response, 401, "unauthorized")


async def test_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    await assert_rejected_as_access(client, user.refresh_token)


async def test_access_token_is_not_a_refresh_token(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.access_token})
    assert_error_shape(response, 401, "unauthorized")
    # And the refresh token it names is still intact.
    ok = await client.post("/api/v1/auth/refresh", json={"refresh_token": user.refresh_token})
    assert ok.status_code == 200


async def test_signed_but_unknown_refresh_token_is_rejected(
    client: httpx.AsyncClient, settings: Settings, user: ApiUser
) -> None:
    never_stored = issue_refresh_token(settings, user.id, uuid.uuid4(), utcnow()).token
    response = await client.post("/api/v1/auth/refresh", json={"refresh_token": never_stored})
    assert_error_shape(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer garbage", "Bearer a.b.c", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 5000],
)
async def test_garbage_is_rejected(
    client: httpx.AsyncClient, user: ApiUser, authorization: str
) -> None:
    response = await client.get(ME, headers={"Authorization": authorization})
    assert_error_shape(response, 401, "unauthorized")


def test_missing_claims_are_rejected(settings: Settings) -> None:
    now = int(utcnow().timestamp())
    without_jti = jwt.encode(
        {"sub": str(uuid.uuid4()), "type": "access", "iat": now, "exp": now + 60},
        settings.jwt_secret,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized):
        decode_token(settings, without_jti, TokenType.ACCESS)
    not_a_uuid = jwt.encode(
        {"sub": "admin", "type": "access", "jti": "j", "iat": now, "exp": now + 60},
        settings.jwt_secret,
        algorithm="HS256",
    )
    with pytest.raises(Unauthorized):
        decode_token(settings, not_a_uuid, TokenType.ACCESS)


async def test_token_of_a_deleted_user_is_rejected(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    orphan = issue_access_token(settings, uuid.uuid4(), utcnow()).token
    await assert_rejected_as_access(client, orphan)


def test_a_remembered_access_token_still_expires_and_still_needs_its_secret(
    settings: Settings,
) -> None:
    issued = issue_access_token(settings, uuid.uuid4(), utcnow())
    expiry = issued.expires_at.timestamp()
    first = decode_token(settings, issued.token, TokenType.ACCESS)  # verified, remembered
    assert decode_token(settings, issued.token, TokenType.ACCESS, now=expiry - 1) == first

    with pytest.raises(Unauthorized, match="expired"):
        decode_token(settings, issued.token, TokenType.ACCESS, now=expiry)
    other = settings.model_copy(update={"jwt_secret": settings.jwt_secret + "-rotated"})
    with pytest.raises(Unauthorized, match="invalid token"):
        decode_token(other, issued.token, TokenType.ACCESS)
    with pytest.raises(Unauthorized, match="expected an access token"):
        decode_token(
            settings,
            issue_refresh_token(settings, uuid.uuid4(), uuid.uuid4(), utcnow()).token,
            TokenType.ACCESS,
        )
