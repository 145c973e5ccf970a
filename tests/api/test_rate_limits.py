"""The API rate limit over HTTP: per user and per plan, per address when anonymous, on Redis and in
process memory (the embedded default), failing open when Redis is down."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from autogrid.api.rate_limits import create_api_rate_limiter
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import Plan, User
from tests.helpers import (
    ApiUser,
    AppFactory,
    ClientFactory,
    assert_error_shape,
    login,
    make_admin,
    register_user,
)
from tests.worker.processes import free_port

BACKENDS = ["redis", "memory"]
ME = "/api/v1/auth/me"
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


async def app_on(make_app: AppFactory, backend: str, **overrides: Any) -> FastAPI:
    if backend == "memory":
        overrides["redis_url"] = None
    application: FastAPI = await make_app(**overrides)
    return application


async def signed_in(application: FastAPI, make_client: ClientFactory, ip: str) -> ApiUser:
    """A user registered and logged in from ``ip`` (an address no test floods)."""
    return await register_user(make_client(application, ip=ip))


async def statuses(http: httpx.AsyncClient, count: int, **options: Any) -> list[int]:
    return [(await http.get(ME, **options)).status_code for _ in range(count)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_request_past_the_budget_gets_429_with_retry_after(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend, rate_limit_api_default="3/minute")
    user = await signed_in(application, make_client, "192.0.2.1")
    http = make_client(application)
    answers = [await http.get(ME, headers=user.headers) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert {answer.headers["RateLimit-Limit"] for answer in answers} == {"3"}
    assert answers[0].headers["RateLimit-Policy"] == "3;w=60"
    assert 0 < int(answers[0].headers["RateLimit-Reset"]) <= 60
    refused = answers[3]
    assert_error_shape(refused, 429, "rate_limited")
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    error = refused.json()["error"]
    assert error["details"] == {"retry_after": retry_after}
    assert error["request_id"] == refused.headers["X-Request-ID"]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_users_do_not_share_a_budget(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend, rate_limit_api_default="2/minute")
    alice = await signed_in(application, make_client, "192.0.2.1")
    bob = await signed_in(application, make_client, "192.0.2.2")
    http = make_client(application)
    assert await statuses(http, 3, headers=alice.headers) == [200, 200, 429]
    assert await statuses(http, 2, headers=bob.headers) == [200, 200]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_an_anonymous_flood_from_an_address_spends_none_of_a_users_budget(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(
        make_app,
        backend,
        rate_limit_api_default="3/minute",
        rate_limit_api_anonymous="2/minute",
    )
    user = await signed_in(application, make_client, "192.0.2.1")
    flooded = make_client(application, ip="203.0.113.9")
    assert await statuses(flooded, 3) == [401, 401, 429]
    # A token that is not a valid access token is no identity: it spends the address's budget.
    assert await statuses(flooded, 1, headers={"Authorization": "Bearer forged"}) == [429]
    # The user calling from the flooded address still has the whole budget of their own.
    assert await statuses(flooded, 3, headers=user.headers) == [200, 200, 200]
    # Another address (an IPv4 one; IPv6 ones count per /64) is not affected either.
    assert await statuses(make_client(application, ip="203.0.113.10"), 1) == [401]


async def set_plan(db: Database, user: ApiUser, plan: Plan) -> None:
    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.plan = plan


async def fresh_headers(http: httpx.AsyncClient, user: ApiUser) -> dict[str, str]:
    """Log in again: the new access token carries the user's current plan and role."""
    answer = await login(http, user.email, user.password)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_each_plan_and_the_admin_role_get_their_own_limit(
    make_app: AppFactory, make_client: ClientFactory, db: Database, backend: str
) -> None:
    application = await app_on(
        make_app,
        backend,
        rate_limit_api_default="2/minute",
        rate_limit_api_plans={Plan.PRO: "4/minute"},
        rate_limit_api_admin="5/minute",
    )
    free = await signed_in(application, make_client, "192.0.2.1")
    pro = await signed_in(application, make_client, "192.0.2.2")
    admin = await make_admin(db, await signed_in(application, make_client, "192.0.2.3"))
    await set_plan(db, pro, Plan.PRO)
    http = make_client(application)
    pro_headers = await fresh_headers(http, pro)
    admin_headers = await fresh_headers(http, admin)
    assert await statuses(http, 3, headers=free.headers) == [200, 200, 429]
    assert await statuses(http, 5, headers=pro_headers) == [200] * 4 + [429]
    assert await statuses(http, 6, headers=admin_headers) == [200] * 5 + [429]
    # A token issued before the plan changed keeps the old plan's limit until it is refreshed.
    assert (await http.get(ME, headers=pro.headers)).headers["RateLimit-Limit"] == "2"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_requests_pass_again_once_the_window_has_moved_on(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend, rate_limit_api_default="2/second")
    user = await signed_in(application, make_client, "192.0.2.1")
    # The window's time is the test's: a slow request on a loaded machine cannot let the first
    # hit leave the window before the third is counted.
    now = [1_000_000.0]
    application.state.api_rate_limiter = create_api_rate_limiter(
        application.state.settings, getattr(application.state, "redis", None), lambda: now[0]
    )
    http = make_client(application)
    assert await statuses(http, 3, headers=user.headers) == [200, 200, 429]
    now[0] += 0.5
    # Refused requests are not counted, so asking again cannot keep the budget spent.
    assert await statuses(http, 2, headers=user.headers) == [429, 429]
    now[0] += 0.501
    assert await statuses(http, 3, headers=user.headers) == [200, 200, 429]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_health_metrics_and_docs_are_never_limited(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    application = await app_on(make_app, backend, rate_limit_api_anonymous="1/minute")
    http = make_client(application, ip="203.0.113.9")
    assert await statuses(http, 2) == [401, 429]
    for path in ("/health", "/ready", "/metrics", "/openapi.json", "/docs", "/redoc"):
        for _ in range(3):
            answer = await http.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert "RateLimit-Limit" not in answer.headers, path


async def test_a_redis_outage_lets_requests_through_and_is_logged_once(
    make_app: AppFactory,
    make_client: ClientFactory,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    application = await app_on(make_app, "redis", rate_limit_api_default="2/minute")
    user = await signed_in(application, make_client, "192.0.2.1")
    # Nothing listens on a port just released: every connection is refused, as in an outage.
    closed = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=5)
    limited = settings.model_copy(update={"rate_limit_api_default": "2/minute"})
    application.state.api_rate_limiter = create_api_rate_limiter(limited, closed)
    http = make_client(application)
    try:
        with caplog.at_level(logging.ERROR, logger="autogrid.api.rate_limits"):
            answers = [await http.get(ME, headers=user.headers) for _ in range(5)]
    finally:
        await closed.aclose()
    assert [answer.status_code for answer in answers] == [200] * 5
    assert not any(name in answers[-1].headers for name in RATE_LIMIT_HEADERS)
    outages = [r for r in caplog.records if "API rate limits are off" in r.getMessage()]
    assert len(outages) == 1 and outages[0].levelno == logging.ERROR


async def test_the_budget_lives_in_redis_under_the_deployment_prefix(
    make_app: AppFactory, make_client: ClientFactory, settings: Settings
) -> None:
    application = await app_on(make_app, "redis", rate_limit_api_default="2/minute")
    user = await signed_in(application, make_client, "192.0.2.1")
    await make_client(application).get(ME, headers=user.headers)
    redis: Redis = application.state.redis
    keys = [key.decode() async for key in redis.scan_iter(match="*api-limit*")]
    mine = [key for key in keys if key.startswith(settings.redis_key_prefix + "api-limit:")]
    assert any(f"user:{uuid.UUID(str(user.id))}" in key for key in mine), keys
    assert all(key.startswith(settings.redis_key_prefix) for key in mine)
