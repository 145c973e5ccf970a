from __future__ import annotations

import logging
import uuid

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from autogrid.auth import service
from autogrid.core.db import Database
from autogrid.models import PLAN_BOT_LIMITS, Plan, User
from tests.helpers import ApiUser, assert_error_shape, login, register_user, unique_email

REGISTER = "/api/v1/auth/register"


async def stored_user(db: Database, email: str) -> User:
    async with db.session_scope() as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one()


@pytest.mark.usefixtures("production_password_hashing")
async def test_register_returns_the_user_without_secrets(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = {"email": "New@Example.com", "password": "violet-harbor-lantern-42"}
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new@example.com"
    assert body["role"] == "user"
    assert body["plan"] == "free"
    assert body["is_active"] is True
    assert body["bot_limit"] == PLAN_BOT_LIMITS[Plan.FREE]
    assert "password" not in response.text and "hash" not in response.text
    row = await stored_user(db, "new@example.com")
    assert str(row.id) == body["id"]
    assert row.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


async def test_duplicate_email_is_409_whatever_the_case(client: httpx.AsyncClient) -> None:
    body = {"email": "dup@example.com", "password": "violet-harbor-lantern-42"}
    first = await client.post(REGISTER, json=body)
    assert first.status_code == 201
    for email in ("dup@example.com", "DUP@Example.COM"):
        again = await client.post(REGISTER, json={"email": email, "password": "other-pass-1"})
        assert_error_shape(again, 409, "conflict")


async def test_email_is_case_insensitive_at_login(client: httpx.AsyncClient) -> None:
    await register_user(client, "Mixed.Case@Example.com", "violet-harbor-lantern-42")
    response = await login(client, "MIXED.CASE@EXAMPLE.COM", "violet-harbor-lantern-42")
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("password", "status"),
    [
        ("k7Vq-p2", 422),
        ("k7Vq-p2Xw-" + "x" * 1014, 201),
        ("k7Vq-p2Xw-" + "x" * 1015, 422),
    ],
)
async def test_password_length_limits(
    client: httpx.AsyncClient, password: str, status: int
) -> None:
    response = await client.post(REGISTER, json={"email": unique_email(), "password": password})
    assert response.status_code == status, response.text
    if status == 422:
        assert_error_shape(response, 422, "validation_error")
        assert password not in response.text  # the error must not echo the password


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "password": "violet-harbor-lantern-42", "role": "admin"},
        {"email": "a@example.com", "password": "violet-harbor-lantern-42", "plan": "enterprise"},
        {"email": "not-an-email", "password": "violet-harbor-lantern-42"},
        {"password": "violet-harbor-lantern-42"},
    ],
)
async def test_register_rejects_bad_or_unknown_fields(
    client: httpx.AsyncClient, db: Database, body: dict[str, str]
) -> None:
    response = await client.post(REGISTER, json=body)
    assert_error_shape(response, 422, "validation_error")
    async with db.session_scope() as session:
        assert (await session.execute(select(User))).first() is None


async def test_login_returns_a_bearer_pair(client: httpx.AsyncClient, settings: object) -> None:
    await register_user(client, "login@example.com", "violet-harbor-lantern-42")
    response = await login(client, "login@example.com", "violet-harbor-lantern-42")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == "login@example.com"


async def test_login_rejects_unknown_fields(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "x", "remember": True}
    )
    assert_error_shape(response, 422, "validation_error")


async def test_token_form_works_for_swagger(client: httpx.AsyncClient) -> None:
    await register_user(client, "form@example.com", "violet-harbor-lantern-42")
    response = await client.post(
        "/api/v1/auth/token",
        data={"username": "Form@Example.com", "password": "violet-harbor-lantern-42"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"] and body["refresh_token"]
    scheme = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert scheme["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"


async def test_token_form_failures_are_401(client: httpx.AsyncClient) -> None:
    await register_user(client, "form2@example.com", "violet-harbor-lantern-42")
    for username, password in [("form2@example.com", "wrong-pass"), ("not an email", "x" * 8)]:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert_error_shape(response, 401, "unauthorized")


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    wrong_password = await login(client, user.email, "not-the-password")
    unknown_email = await login(client, "nobody@example.com", user.password)
    assert_error_shape(wrong_password, 401, "unauthorized")
    assert_error_shape(unknown_email, 401, "unauthorized")
    assert wrong_password.json()["error"]["message"] == unknown_email.json()["error"]["message"]
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_unknown_email_still_spends_a_password_verification(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    async def spy(password: str) -> bool:
        calls.append(password)
        return False

    monkeypatch.setattr(service, "verify_against_dummy", spy)
    response = await login(client, "ghost@example.com", "some-password")
    assert response.status_code == 401
    assert calls == ["some-password"]


@pytest.mark.usefixtures("production_password_hashing")
async def test_login_upgrades_an_outdated_hash(client: httpx.AsyncClient, db: Database) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8_192, parallelism=1)
    async with db.session_scope() as session:
        session.add(
            User(
                id=uuid.uuid4(),
                email="old@example.com",
                password_hash=weak.hash("violet-harbor-lantern-42"),
                role="user",
                plan="free",
                is_active=True,
            )
        )
    assert (await login(client, "old@example.com", "violet-harbor-lantern-42")).status_code == 200
    upgraded = await stored_user(db, "old@example.com")
    assert upgraded.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await login(client, "old@example.com", "violet-harbor-lantern-42")).status_code == 200


async def test_me_requires_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/auth/me")
    assert_error_shape(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_no_password_or_token_reaches_the_logs(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "Very-Secret-Passw0rd"
    user = await register_user(client, "logs@example.com", password)
    await login(client, user.email, "Wrong-Secret-Passw0rd")
    form = await client.post(
        "/api/v1/auth/token", data={"username": user.email, "password": password}
    )
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": form.json()["refresh_token"]}
    )
    # Reusing the rotated token logs a warning: it must not include the token either.
    await client.post("/api/v1/auth/refresh", json={"refresh_token": form.json()["refresh_token"]})
    await client.post(
        "/api/v1/auth/logout",
        json={"refresh_token": refreshed.json()["refresh_token"]},
        headers={"Authorization": f"Bearer {refreshed.json()['access_token']}"},
    )
    secrets = {
        password,
        "Wrong-Secret-Passw0rd",
        user.access_token,
        user.refresh_token,
        form.json()["access_token"],
        form.json()["refresh_token"],
        refreshed.json()["access_token"],
        refreshed.json()["refresh_token"],
    }
    assert any("login succeeded" in record.getMessage() for record in caplog.records)
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.__dict__!r}" for record in caplog.records
    )
    for secret in secrets:
        assert secret not in logged
