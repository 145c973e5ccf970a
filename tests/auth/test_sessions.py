"""Refresh rotation, reuse detection, logout and deactivation."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest
from sqlalchemy import select

from autogrid.auth.denylist import InMemoryAccessTokenDenylist
from autogrid.auth.dependencies import get_access_denylist
from autogrid.core.db import Database
from autogrid.models import RefreshToken
from tests.helpers import ApiUser, AppFactory, assert_error_shape, login, register_user

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def family_rows(db: Database, user_id: uuid.UUID) -> list[RefreshToken]:
    async with db.session_scope() as session:
        rows = await session.scalars(select(RefreshToken).where(RefreshToken.user_id == user_id))
        return list(rows)


async def test_refresh_rotates_and_persists(
    client: httpx.AsyncClient, db: Database, user: ApiUser
) -> None:
    response = await refresh(client, user.refresh_token)
    assert response.status_code == 200
    pair = response.json()
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
    assert pair["refresh_token"] != user.refresh_token
    assert (await client.get(ME, headers=bearer(pair["access_token"]))).status_code == 200
    rows = {row.jti: row for row in await family_rows(db, user.id)}
    assert len(rows) == 2
    assert len({row.family_id for row in rows.values()}) == 1
    retired = next(row for row in rows.values() if row.revoked_at is not None)
    assert retired.replaced_by_jti in rows
    assert rows[retired.replaced_by_jti].revoked_at is None
    # The chain goes on: the new token rotates too.
    assert (await refresh(client, pair["refresh_token"])).status_code == 200


async def test_reuse_revokes_the_whole_family(
    client: httpx.AsyncClient, db: Database, user: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    rotated = (await refresh(client, user.refresh_token)).json()
    reuse = await refresh(client, user.refresh_token)
    assert_error_shape(reuse, 401, "unauthorized")
    # Operators are told: a rotated token coming back means it was copied.
    assert any(
        record.levelno == logging.WARNING and "rotated=True" in record.getMessage()
        for record in caplog.records
    )
    # The revocation was committed although the request failed: the newest token is dead too.
    assert_error_shape(await refresh(client, rotated["refresh_token"]), 401, "unauthorized")
    assert all(row.revoked_at is not None for row in await family_rows(db, user.id))


async def test_reuse_leaves_other_sessions_alone(client: httpx.AsyncClient, user: ApiUser) -> None:
    second_device = (await login(client, user.email, user.password)).json()
    await refresh(client, user.refresh_token)
    assert (await refresh(client, user.refresh_token)).status_code == 401
    assert (await refresh(client, second_device["refresh_token"])).status_code == 200


async def test_concurrent_refresh_with_one_token_succeeds_once(client: httpx.AsyncClient) -> None:
    user = await register_user(client)
    for _ in range(3):
        token = (await login(client, user.email, user.password)).json()["refresh_token"]
        first, second = await asyncio.gather(refresh(client, token), refresh(client, token))
        assert sorted([first.status_code, second.status_code]) == [200, 401]
        winner = first if first.status_code == 200 else second
        # The loser looked exactly like a thief replaying the token, so the family is gone.
        assert (await refresh(client, winner.json()["refresh_token"])).status_code == 401


async def test_logout_revokes_refresh_family_and_access_token(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    rotated = (await refresh(client, user.refresh_token)).json()
    response = await client.post(
        LOGOUT,
        json={"refresh_token": rotated["refresh_token"]},
        headers=bearer(rotated["access_token"]),
    )
    assert response.status_code == 204
    assert_error_shape(await refresh(client, rotated["refresh_token"]), 401, "unauthorized")
    revoked = await client.get(ME, headers=bearer(rotated["access_token"]))
    assert_error_shape(revoked, 401, "unauthorized")
    assert "revoked" in revoked.json()["error"]["message"]


async def test_logout_without_header_keeps_the_access_token(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    response = await client.post(LOGOUT, json={"refresh_token": user.refresh_token})
    assert response.status_code == 204
    assert (await refresh(client, user.refresh_token)).status_code == 401
    # Only the refresh side was presented; the short-lived access token runs out on its own.
    assert (await client.get(ME, headers=user.headers)).status_code == 200


async def test_logout_ends_only_its_own_session(client: httpx.AsyncClient, user: ApiUser) -> None:
    other_device = (await login(client, user.email, user.password)).json()
    await client.post(LOGOUT, json={"refresh_token": user.refresh_token}, headers=user.headers)
    assert (await client.get(ME, headers=bearer(other_device["access_token"]))).status_code == 200
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_logout_rejects_invalid_tokens(client: httpx.AsyncClient, user: ApiUser) -> None:
    for token in ("garbage", user.access_token):
        assert_error_shape(
            await client.post(LOGOUT, json={"refresh_token": token}), 401, "unauthorized"
        )
    response = await client.post(LOGOUT, json={"refresh_token": user.refresh_token, "all": True})
    assert_error_shape(response, 422, "validation_error")
    # Nothing above touched the session.
    assert (await refresh(client, user.refresh_token)).status_code == 200


async def test_logout_denylist_works_without_redis(
    make_app: AppFactory, make_client: object
) -> None:
    application = await make_app(redis_url=None)
    assert application.state.redis is None
    http = make_client(application)  # type: ignore[operator]
    user = await register_user(http)
    await http.post(LOGOUT, json={"refresh_token": user.refresh_token}, headers=user.headers)
    assert_error_shape(await http.get(ME, headers=user.headers), 401, "unauthorized")
    assert isinstance(application.state.access_denylist, InMemoryAccessTokenDenylist)


async def test_denylist_is_one_per_app(app: object) -> None:
    class FakeRequest:
        def __init__(self, application: object) -> None:
            self.app = application

    first = get_access_denylist(FakeRequest(app))  # type: ignore[arg-type]
    assert get_access_denylist(FakeRequest(app)) is first  # type: ignore[arg-type]


async def test_deactivated_user_loses_access_and_refresh(
    client: httpx.AsyncClient, user: ApiUser, admin_user: ApiUser
) -> None:
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    patched = await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"is_active": False}, headers=admin_user.headers
    )
    assert patched.status_code == 200
    assert_error_shape(await client.get(ME, headers=user.headers), 401, "unauthorized")
    assert_error_shape(await refresh(client, user.refresh_token), 401, "unauthorized")
    assert_error_shape(await login(client, user.email, user.password), 401, "unauthorized")
    # Reactivation lets them log in again, but does not revive the old session.
    await client.patch(
        f"/api/v1/admin/users/{user.id}", json={"is_active": True}, headers=admin_user.headers
    )
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    assert (await refresh(client, user.refresh_token)).status_code == 401
    assert (await login(client, user.email, user.password)).status_code == 200


async def test_deactivated_in_database_refresh_is_refused(
    client: httpx.AsyncClient, db: Database, user: ApiUser
) -> None:
    # Deactivated behind the API's back (no token revocation): the user check still stops it.
    from autogrid.models import User

    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.is_active = False
    assert_error_shape(await refresh(client, user.refresh_token), 401, "unauthorized")
