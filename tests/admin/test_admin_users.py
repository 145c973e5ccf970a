from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.models import PLAN_BOT_LIMITS, Plan, RefreshToken
from tests.helpers import (
    ApiUser,
    assert_error_shape,
    assert_not_found_for,
    login,
    register_user,
)

USERS = "/api/v1/admin/users"


async def test_normal_users_are_forbidden(client: httpx.AsyncClient, user: ApiUser) -> None:
    assert_error_shape(await client.get(USERS, headers=user.headers), 403, "forbidden")
    patch = await client.patch(f"{USERS}/{user.id}", json={"role": "admin"}, headers=user.headers)
    assert_error_shape(patch, 403, "forbidden")
    me = await client.get("/api/v1/auth/me", headers=user.headers)
    assert me.json()["role"] == "user"  # the forbidden request changed nothing


async def test_anonymous_is_unauthorized(client: httpx.AsyncClient, user: ApiUser) -> None:
    assert_error_shape(await client.get(USERS), 401, "unauthorized")
    assert_error_shape(
        await client.patch(f"{USERS}/{user.id}", json={"plan": "pro"}), 401, "unauthorized"
    )


async def test_list_is_paginated_and_stable(
    client: httpx.AsyncClient, admin_user: ApiUser, user: ApiUser, other_user: ApiUser
) -> None:
    everything = (await client.get(USERS, headers=admin_user.headers)).json()
    assert everything["total"] == 3
    assert {item["email"] for item in everything["items"]} == {
        admin_user.email,
        user.email,
        other_user.email,
    }
    seen: list[str] = []
    for offset in range(3):
        page = (
            await client.get(
                USERS, params={"limit": 1, "offset": offset}, headers=admin_user.headers
            )
        ).json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 1, offset)
        seen.extend(item["id"] for item in page["items"])
    assert seen == [item["id"] for item in everything["items"]]
    too_big = await client.get(USERS, params={"limit": 10_000}, headers=admin_user.headers)
    assert_error_shape(too_big, 422, "validation_error")


async def test_list_filters_by_email_substring(
    client: httpx.AsyncClient, admin_user: ApiUser
) -> None:
    await register_user(client, "alice_smith@example.com")
    await register_user(client, "alicexsmith@example.com")
    await register_user(client, "bob@example.com")

    async def emails(fragment: str) -> list[str]:
        page = (
            await client.get(USERS, params={"email": fragment}, headers=admin_user.headers)
        ).json()
        assert page["total"] == len(page["items"])
        return sorted(item["email"] for item in page["items"])

    assert await emails("ALICE") == ["alice_smith@example.com", "alicexsmith@example.com"]
    # "_" and "%" are literal characters, not LIKE wildcards.
    assert await emails("alice_") == ["alice_smith@example.com"]
    assert await emails("%") == []


async def test_admin_changes_plan_and_bot_limit(
    client: httpx.AsyncClient, admin_user: ApiUser, user: ApiUser
) -> None:
    response = await client.patch(
        f"{USERS}/{user.id}", json={"plan": "pro"}, headers=admin_user.headers
    )
    assert response.status_code == 200
    assert response.json()["plan"] == "pro"
    assert response.json()["bot_limit"] == PLAN_BOT_LIMITS[Plan.PRO]
    me = (await client.get("/api/v1/auth/me", headers=user.headers)).json()
    assert (me["plan"], me["bot_limit"], me["role"]) == ("pro", PLAN_BOT_LIMITS[Plan.PRO], "user")


async def test_promotion_takes_effect_on_existing_tokens(
    client: httpx.AsyncClient, admin_user: ApiUser, user: ApiUser
) -> None:
    assert (await client.get(USERS, headers=user.headers)).status_code == 403
    promoted = await client.patch(
        f"{USERS}/{user.id}", json={"role": "admin"}, headers=admin_user.headers
    )
    assert promoted.json()["role"] == "admin"
    assert (await client.get(USERS, headers=user.headers)).status_code == 200
    await client.patch(f"{USERS}/{user.id}", json={"role": "user"}, headers=admin_user.headers)
    assert (await client.get(USERS, headers=user.headers)).status_code == 403


async def test_deactivation_revokes_every_refresh_token(
    client: httpx.AsyncClient, db: Database, admin_user: ApiUser, user: ApiUser
) -> None:
    await login(client, user.email, user.password)  # a second session
    response = await client.patch(
        f"{USERS}/{user.id}", json={"is_active": False}, headers=admin_user.headers
    )
    assert response.json()["is_active"] is False
    async with db.session_scope() as session:
        rows = list(
            await session.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id))
        )
    assert len(rows) == 2 and all(row.revoked_at is not None for row in rows)
    assert (await client.get("/api/v1/auth/me", headers=user.headers)).status_code == 401
    # The admin's own session is untouched.
    assert (await client.get(USERS, headers=admin_user.headers)).status_code == 200


@pytest.mark.parametrize("change", [{"is_active": False}, {"role": "user"}])
async def test_admin_cannot_lock_themself_out(
    client: httpx.AsyncClient, admin_user: ApiUser, change: dict[str, object]
) -> None:
    response = await client.patch(
        f"{USERS}/{admin_user.id}", json=change, headers=admin_user.headers
    )
    assert_error_shape(response, 409, "conflict")
    assert (await client.get(USERS, headers=admin_user.headers)).status_code == 200


async def test_admin_may_change_own_plan(client: httpx.AsyncClient, admin_user: ApiUser) -> None:
    response = await client.patch(
        f"{USERS}/{admin_user.id}",
        json={"plan": "enterprise", "role": "admin"},
        headers=admin_user.headers,
    )
    assert response.status_code == 200
    assert response.json()["plan"] == "enterprise"


async def test_unknown_user_is_404(client: httpx.AsyncClient, admin_user: ApiUser) -> None:
    await assert_not_found_for(
        client, admin_user, "PATCH", f"{USERS}/{uuid.uuid4()}", json={"plan": "pro"}
    )


@pytest.mark.parametrize(
    "body",
    [
        {"plan": "platinum"},
        {"role": "superuser"},
        {"email": "x@example.com"},
        {"password_hash": "x"},
        {"is_active": "maybe"},
    ],
)
async def test_invalid_or_unknown_fields_are_422(
    client: httpx.AsyncClient, admin_user: ApiUser, user: ApiUser, body: dict[str, object]
) -> None:
    response = await client.patch(f"{USERS}/{user.id}", json=body, headers=admin_user.headers)
    assert_error_shape(response, 422, "validation_error")
    me = (await client.get("/api/v1/auth/me", headers=user.headers)).json()
    assert (me["email"], me["plan"], me["role"]) == (user.email, "free", "user")
