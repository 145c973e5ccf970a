"""Login and registration limits through the API, on Redis and in memory."""

from __future__ import annotations

import httpx
import pytest

from autogrid.core.moving_window import MemoryMovingWindow, RedisMovingWindow
from tests.helpers import (
    AppFactory,
    ClientFactory,
    assert_error_shape,
    login,
    register_user,
    unique_email,
)


def assert_rate_limited(response: httpx.Response, window: int) -> None:
    assert_error_shape(response, 429, "rate_limited")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert response.json()["error"]["details"] == {"retry_after": retry_after}


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_login_is_limited_per_ip(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    overrides: dict[str, object] = {"rate_limit_login_per_minute": 3}
    if backend == "memory":
        overrides["redis_url"] = None
    application = await make_app(**overrides)
    expected = RedisMovingWindow if backend == "redis" else MemoryMovingWindow
    assert isinstance(application.state.rate_limiter.window, expected)
    attacker = make_client(application, ip="203.0.113.7")
    user = await register_user(make_client(application, ip="198.51.100.1"))
    for number in range(3):
        failed = await login(attacker, f"guess{number}@example.com", "wrong-password")
        assert failed.status_code == 401
    blocked = await login(attacker, user.email, user.password)
    assert_rate_limited(blocked, 60)
    # Another address is not affected.
    assert (
        await login(make_client(application, ip="198.51.100.2"), user.email, user.password)
    ).status_code == 200


async def test_login_is_limited_per_account_across_unknown_ips(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    application = await make_app(rate_limit_login_per_account_per_hour=3)
    user = await register_user(make_client(application, ip="198.51.100.1"))
    for number in range(3):
        spread = make_client(application, ip=f"203.0.113.{number + 10}")
        assert (await login(spread, user.email, "wrong-password")).status_code == 401
    # The right password from a fresh address waits: the account is under attack.
    fresh = make_client(application, ip="203.0.113.99")
    assert_rate_limited(await login(fresh, user.email, user.password), 3600)
    # Other accounts from that address are fine.
    other = await register_user(fresh)
    assert (await login(fresh, other.email, other.password)).status_code == 200
    # The owner's own address, which logged in before, still gets in.
    home = make_client(application, ip="198.51.100.1")
    assert (await login(home, user.email, user.password)).status_code == 200


async def test_successful_logins_are_not_counted(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    application = await make_app(rate_limit_login_per_minute=2)
    http = make_client(application)
    user = await register_user(http)
    for _ in range(5):
        assert (await login(http, user.email, user.password)).status_code == 200
    assert (await login(http, user.email, "wrong-password")).status_code == 401
    assert (await login(http, user.email, user.password)).status_code == 200
    assert (await login(http, user.email, "wrong-password")).status_code == 401
    # Two failures in the window: now even the right password waits.
    assert_rate_limited(await login(http, user.email, user.password), 60)


async def test_token_form_shares_the_login_limit(
    make_app: AppFactory, make_client: ClientFactory
) -> None:
    application = await make_app(rate_limit_login_per_minute=1)
    http = make_client(application)
    assert (await login(http, "nobody@example.com", "wrong-password")).status_code == 401
    response = await http.post(
        "/api/v1/auth/token", data={"username": "nobody@example.com", "password": "x"}
    )
    assert_rate_limited(response, 60)


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_register_is_limited_per_ip(
    make_app: AppFactory, make_client: ClientFactory, backend: str
) -> None:
    overrides: dict[str, object] = {"rate_limit_register_per_hour": 2}
    if backend == "memory":
        overrides["redis_url"] = None
    application = await make_app(**overrides)
    http = make_client(application, ip="203.0.113.5")
    for _ in range(2):
        body = {"email": unique_email(), "password": "violet-harbor-lantern-42"}
        assert (await http.post("/api/v1/auth/register", json=body)).status_code == 201
    body = {"email": unique_email(), "password": "violet-harbor-lantern-42"}
    blocked = await http.post("/api/v1/auth/register", json=body)
    assert_rate_limited(blocked, 3600)
    assert int(blocked.headers["retry-after"]) > 3500
    elsewhere = make_client(application, ip="203.0.113.6")
    assert (await elsewhere.post("/api/v1/auth/register", json=body)).status_code == 201
