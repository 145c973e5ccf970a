"""Test helpers for authenticated API calls and object-level authorization.

Every resource a user owns must be invisible to everyone else: another user asking for it gets the
same 404 as for an id that does not exist (OWASP API1). The pattern for each new resource::

    async def test_bots_are_private(client, user, other_user):
        bot = (await client.post("/api/v1/bots", json=..., headers=user.headers)).json()
        for method, path, body in [
            ("GET", f"/api/v1/bots/{bot['id']}", None),
            ("PATCH", f"/api/v1/bots/{bot['id']}", {"name": "mine now"}),
            ("DELETE", f"/api/v1/bots/{bot['id']}", None),
        ]:
            await assert_not_found_for(client, other_user, method, path, json=body)

The ``user``, ``other_user`` and ``admin_user`` fixtures (tests/conftest.py) are ``ApiUser``s made
by ``register_user``: registered and logged in through the real API. Registration is rate limited
per IP (``rate_limit_register_per_hour``, 20 by default); the Redis keys are flushed after each
test, so keep a single test under that many registrations or raise the limit in its settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from autogrid.core.db import Database
from autogrid.models import Role, User

DEFAULT_PASSWORD = "correct horse battery staple"

# ``await make_app(**setting_overrides)`` and ``make_client(app, ip=...)`` (tests/conftest.py).
AppFactory = Callable[..., Any]
ClientFactory = Callable[..., httpx.AsyncClient]


@dataclass
class ApiUser:
    id: uuid.UUID
    email: str
    password: str
    access_token: str
    refresh_token: str
    headers: dict[str, str] = field(default_factory=dict)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def register_user(
    client: httpx.AsyncClient, email: str | None = None, password: str | None = None
) -> ApiUser:
    """Register through the API, log in, and return the user with ready Authorization headers."""
    email = email or unique_email()
    password = password or DEFAULT_PASSWORD
    registered = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": password}
    )
    assert registered.status_code == 201, registered.text
    tokens = await login(client, email, password)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    return ApiUser(
        id=uuid.UUID(registered.json()["id"]),
        email=registered.json()["email"],
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )


async def make_admin(db: Database, user: ApiUser) -> ApiUser:
    """Give the user the admin role directly in the database; their tokens keep working."""
    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.role = Role.ADMIN
    return user


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> None:
    """The response is ``status`` with the API's one error body."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error


async def assert_not_found_for(
    client: httpx.AsyncClient,
    user: ApiUser,
    method: str,
    path: str,
    json: Any | None = None,
) -> None:
    """``user`` gets a 404 in the standard error shape for ``method path``: not theirs."""
    response = await client.request(method, path, json=json, headers=user.headers)
    assert_error_shape(response, 404, "not_found")


class CountedCalls:
    """``owner.name``, an async function, replaced for the test by itself counting its calls."""

    def __init__(self, monkeypatch: Any, owner: object, name: str) -> None:
        self.calls = 0
        self._wrapped = getattr(owner, name)
        monkeypatch.setattr(owner, name, self)

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await self._wrapped(*args, **kwargs)
