"""Changing the password and logging out everywhere end every other session at once."""

from __future__ import annotations

import httpx

from autogrid.auth import repository
from autogrid.core.db import Database
from autogrid.models import User
from tests.helpers import ApiUser, assert_error_shape, login

ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
LOGOUT_ALL = "/api/v1/auth/logout-all"
NEW_PASSWORD = "amber-falcon-quietly-drifts"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/refresh", json={"refresh_token": token})


async def second_session(client: httpx.AsyncClient, user: ApiUser) -> dict[str, str]:
    response = await login(client, user.email, user.password)
    assert response.status_code == 200
    tokens: dict[str, str] = response.json()
    return tokens


async def assert_session_dead(client: httpx.AsyncClient, access: str, refresh_token: str) -> None:
    assert_error_shape(await client.get(ME, headers=bearer(access)), 401, "unauthorized")
    assert_error_shape(await refresh(client, refresh_token), 401, "unauthorized")


async def test_password_change_logs_out_every_other_session(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    other = await second_session(client, user)
    body = {"current_password": user.password, "new_password": NEW_PASSWORD}
    response = await client.post(PASSWORD, json=body, headers=user.headers)
    assert response.status_code == 200, response.text
    fresh = response.json()
    await assert_session_dead(client, other["access_token"], other["refresh_token"])
    await assert_session_dead(client, user.access_token, user.refresh_token)
    # The device that changed it carries on with the pair it was given.
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    assert (await refresh(client, fresh["refresh_token"])).status_code == 200
    assert_error_shape(await login(client, user.email, user.password), 401)
    assert (await login(client, user.email, NEW_PASSWORD)).status_code == 200


async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    body = {"current_password": "not-the-password", "new_password": NEW_PASSWORD}
    wrong = await client.post(PASSWORD, json=body, headers=user.headers)
    assert_error_shape(wrong, 403, "forbidden")
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    assert (await login(client, user.email, user.password)).status_code == 200
    unauthenticated = await client.post(PASSWORD, json=body)
    assert_error_shape(unauthenticated, 401, "unauthorized")


async def test_guessing_the_current_password_is_throttled(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    statuses = []
    for number in range(12):
        body = {"current_password": f"guess-{number}", "new_password": NEW_PASSWORD}
        response = await client.post(PASSWORD, json=body, headers=user.headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            break
    assert statuses[-1] == 429, statuses
    assert set(statuses[:-1]) == {403}


async def test_the_new_password_must_be_strong_and_not_the_old_one_again(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    for new_password in ["password123", user.password + "!", user.email]:
        body = {"current_password": user.password, "new_password": new_password}
        response = await client.post(PASSWORD, json=body, headers=user.headers)
        assert_error_shape(response, 422, "weak_password")
    extra = {"current_password": user.password, "new_password": NEW_PASSWORD, "user_id": "x"}
    assert_error_shape(await client.post(PASSWORD, json=extra, headers=user.headers), 422)
    # Nothing changed.
    assert (await client.get(ME, headers=user.headers)).status_code == 200


async def test_logout_all_ends_every_session(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    other = await second_session(client, user)
    response = await client.post(LOGOUT_ALL, headers=user.headers)
    assert response.status_code == 204
    await assert_session_dead(client, user.access_token, user.refresh_token)
    await assert_session_dead(client, other["access_token"], other["refresh_token"])
    # Someone else's sessions are untouched; logging in again works.
    assert (await client.get(ME, headers=other_user.headers)).status_code == 200
    again = await login(client, user.email, user.password)
    assert again.status_code == 200
    assert (await client.get(ME, headers=bearer(again.json()["access_token"]))).status_code == 200
    assert_error_shape(await client.post(LOGOUT_ALL), 401, "unauthorized")


async def test_a_refresh_token_issued_before_a_revocation_is_refused(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """A rotation that committed its new row just after logout-all swept the table is refused."""
    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        await repository.bump_token_version(session, row)
    # The row itself was never revoked; the version in the token is what refuses it.
    assert_error_shape(await refresh(client, user.refresh_token), 401, "unauthorized")
    assert_error_shape(await client.get(ME, headers=user.headers), 401, "unauthorized")


async def test_openapi_documents_the_new_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path, statuses in [(PASSWORD, {"401", "403", "422", "429"}), (LOGOUT_ALL, {"401"})]:
        assert statuses <= set(paths[path]["post"]["responses"]), path
