"""The cached copy of the signed-in user: every change that must cut or alter access applies at
the very next request, however warm the cache, in this process and in every other one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.app import create_app
from autogrid.auth.denylist import AccessTokenDenylist
from autogrid.auth.service import authenticate_access_token
from autogrid.auth.user_cache import AuthUserCache
from autogrid.core.config import Settings
from autogrid.core.db import Database, after_commit
from autogrid.models import AuthUser, User
from tests.helpers import (
    DEFAULT_PASSWORD,
    ApiUser,
    AppFactory,
    ClientFactory,
    make_admin,
    register_user,
    unique_email,
)
from tests.infra import LIFESPAN_TIMEOUTS

ME = "/api/v1/auth/me"
ADMIN_USERS = "/api/v1/admin/users"


def get_access_denylist_of(app: FastAPI) -> AccessTokenDenylist:
    denylist: AccessTokenDenylist = app.state.access_denylist
    return denylist


async def warm(client: httpx.AsyncClient, user: ApiUser) -> dict[str, object]:
    # Twice: the first request loads and caches the row, the second is served from the cache.
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    response = await client.get(ME, headers=user.headers)
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


@pytest.fixture
async def other_process(make_app: AppFactory, make_client: ClientFactory) -> httpx.AsyncClient:
    """A second API process sharing the database and Redis (same settings, its own cache)."""
    application: FastAPI = await make_app()
    return make_client(application)


async def test_deactivation_cuts_a_warm_cache_in_every_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    admin = await make_admin(db, await register_user(client, unique_email("admin")))
    await warm(client, user)
    changed = await other_process.patch(
        f"{ADMIN_USERS}/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert changed.status_code == 200
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_plan_change_shows_at_once_in_every_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    admin = await make_admin(db, await register_user(client, unique_email("admin")))
    assert (await warm(client, user))["plan"] == "free"
    changed = await other_process.patch(
        f"{ADMIN_USERS}/{user.id}", json={"plan": "pro"}, headers=admin.headers
    )
    assert changed.status_code == 200
    assert (await client.get(ME, headers=user.headers)).json()["plan"] == "pro"


async def test_demotion_cuts_admin_access_in_every_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, db: Database
) -> None:
    demoted = await make_admin(db, await register_user(client, unique_email("admin")))
    demoting = await make_admin(db, await register_user(client, unique_email("admin")))
    assert (await client.get(ADMIN_USERS, headers=demoted.headers)).status_code == 200
    assert (await client.get(ADMIN_USERS, headers=demoted.headers)).status_code == 200
    changed = await other_process.patch(
        f"{ADMIN_USERS}/{demoted.id}", json={"role": "user"}, headers=demoting.headers
    )
    assert changed.status_code == 200
    assert (await client.get(ADMIN_USERS, headers=demoted.headers)).status_code == 403


async def test_password_change_cuts_old_tokens_in_every_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, user: ApiUser
) -> None:
    await warm(client, user)
    changed = await other_process.post(
        "/api/v1/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "a fresh long passphrase 7"},
        headers=user.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get(ME, headers=user.headers)).status_code == 401
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await client.get(ME, headers=fresh)).status_code == 200


async def test_log_out_everywhere_cuts_a_warm_cache_in_every_process(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, user: ApiUser
) -> None:
    await warm(client, user)
    out = await other_process.post("/api/v1/auth/logout-all", headers=user.headers)
    assert out.status_code == 204
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_a_logged_out_token_is_refused_with_a_warm_cache(
    client: httpx.AsyncClient, other_process: httpx.AsyncClient, user: ApiUser
) -> None:
    await warm(client, user)
    out = await other_process.post(
        "/api/v1/auth/logout", json={"refresh_token": user.refresh_token}, headers=user.headers
    )
    assert out.status_code == 204
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_a_flushed_redis_vouches_for_no_cached_copy(
    client: httpx.AsyncClient, user: ApiUser, db: Database, settings: Settings
) -> None:
    await warm(client, user)
    assert settings.redis_url
    redis = Redis.from_url(settings.redis_url)
    try:
        async for name in redis.scan_iter(match=settings.redis_key_prefix + "auth:epoch:*"):
            await redis.delete(name)
    finally:
        await redis.aclose()
    # A change the flushed Redis never heard of: only a reload of the row can see it.
    async with db.session_scope() as session:
        await session.execute(update(User).where(User.id == user.id).values(is_active=False))
    assert (await client.get(ME, headers=user.headers)).status_code == 401


async def test_embedded_mode_cuts_a_warm_cache_too(
    make_app: AppFactory, make_client: ClientFactory, db: Database
) -> None:
    embedded = make_client(await make_app(redis_url=None))
    user = await register_user(embedded, unique_email("user"))
    admin = await make_admin(db, await register_user(embedded, unique_email("admin")))
    await warm(embedded, user)
    changed = await embedded.patch(
        f"{ADMIN_USERS}/{user.id}", json={"is_active": False}, headers=admin.headers
    )
    assert changed.status_code == 200
    assert (await embedded.get(ME, headers=user.headers)).status_code == 401
    assert (
        await embedded.post("/api/v1/auth/logout-all", headers=admin.headers)
    ).status_code == 204
    assert (await embedded.get(ADMIN_USERS, headers=admin.headers)).status_code == 401


async def test_after_commit_actions_run_only_once_committed(db: Database) -> None:
    ran: list[str] = []

    async def record(label: str) -> None:
        ran.append(label)

    async with db.session_scope() as session:
        after_commit(session, lambda: record("committed"))
        assert ran == []
    with pytest.raises(RuntimeError):
        async with db.session_scope() as session:
            after_commit(session, lambda: record("rolled back"))
            raise RuntimeError("the unit of work fails")
    assert ran == ["committed"]


async def test_a_warm_request_reads_redis_only_with_its_rate_limit_hit(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    await warm(client, user)
    denylist = get_access_denylist_of(app)
    separate_checks: list[str] = []
    original = denylist.check

    async def counted(jti: str, user_id: uuid.UUID) -> tuple[bool, str | None]:
        separate_checks.append(jti)
        return await original(jti, user_id)

    monkeypatch.setattr(denylist, "check", counted)
    assert (await client.get(ME, headers=user.headers)).status_code == 200
    assert separate_checks == []


def test_a_copy_is_trusted_for_a_minute_at_most_whatever_its_epoch() -> None:
    # If the bump after a commit fails, an old row cached under the current epoch must not be
    # trusted for ever.
    now = [0.0]
    cache = AuthUserCache(max_age=60.0, clock=lambda: now[0])
    user = AuthUser(
        id=uuid.uuid4(),
        email="a@example.com",
        role="user",
        plan="free",
        is_active=True,
        token_version=0,
        created_at=datetime.now(UTC),
        updated_at=datetime.now(UTC),
    )
    cache.put("epoch-1", user)
    now[0] = 59.0
    assert cache.get(user.id, "epoch-1") == user
    assert cache.get(user.id, "epoch-2") is None
    now[0] = 61.0
    assert cache.get(user.id, "epoch-1") is None


async def test_the_cache_lives_and_closes_with_the_app(settings: Settings, db: Database) -> None:
    application = create_app(settings)
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        cache = application.state.auth_user_cache
        assert isinstance(cache, AuthUserCache) and len(cache) == 0
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await warm(http, await register_user(http))
        assert application.state.auth_user_cache is cache and len(cache) == 1
    assert len(cache) == 0


async def test_a_cached_user_is_authenticated_without_a_session(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """A session is opened only to load the row: a warm request builds none for its sign-in."""
    await warm(client, user)
    opened: list[AsyncSession] = []

    @asynccontextmanager
    async def open_session() -> AsyncIterator[AsyncSession]:
        async with db.statement_scope() as session:
            opened.append(session)
            yield session

    state = app.state
    args = (state.settings, state.access_denylist, state.auth_user_cache, user.access_token)
    assert (await authenticate_access_token(open_session, *args)).id == user.id
    assert opened == []
    state.auth_user_cache.close()
    assert (await authenticate_access_token(open_session, *args)).id == user.id
    assert len(opened) == 1
