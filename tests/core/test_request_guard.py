"""Anonymous input cannot make the API do unbounded work, and odd input gets a 4xx, never a 500."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request

from autogrid.app import create_app
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.errors import MAX_VALIDATION_ERRORS, install_error_handlers
from autogrid.core.json_shape import MAX_JSON_DEPTH, MAX_JSON_ITEMS, MAX_JSON_KEYS
from autogrid.core.request_guard import RequestGuardMiddleware
from tests.core.test_error_shape import assert_error_shape
from tests.helpers import ApiUser
from tests.infra import LIFESPAN_TIMEOUTS

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024
JSON = {"content-type": "application/json"}


@asynccontextmanager
async def app_client(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings.model_copy(update=overrides))
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


def unknown_keys(count: int) -> bytes:
    return json.dumps({f"k{index:x}": 0 for index in range(count)}).encode()


# --- 1. Work and answer stay bounded whatever the body's shape ---


async def test_a_hundred_thousand_unknown_keys_get_a_small_answer(
    settings: Settings, db: Database
) -> None:
    body = unknown_keys(100_000)
    # A limit large enough to let the body through: the key budget must stop it on its own.
    async with app_client(settings, max_request_body_bytes=4 * MIB) as client:
        response = await client.post(REGISTER, content=body, headers=JSON)
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"] == [
        {"loc": ["body"], "msg": f"more than {MAX_JSON_KEYS} object keys", "type": "too_many_keys"}
    ]
    assert len(response.content) < 1_000


async def test_validation_errors_are_capped_and_counted(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, content=unknown_keys(500), headers=JSON)
    error = assert_error_shape(response, 422, "validation_error")
    assert len(error["details"]) == MAX_VALIDATION_ERRORS
    # email, password missing plus 500 unknown keys: the message counts every one of them.
    assert "(and 501 more errors" in error["message"]
    assert len(response.content) < 5_000


@pytest.mark.parametrize(
    ("make_body", "problem"),
    [
        (lambda: [0] * (MAX_JSON_ITEMS + 1), "too_many_items"),
        (lambda: json.loads("[" * (MAX_JSON_DEPTH + 2) + "]" * (MAX_JSON_DEPTH + 2)), "too_deep"),
    ],
    ids=["items", "depth"],
)
async def test_arrays_and_nesting_are_bounded(
    client: httpx.AsyncClient, make_body: Callable[[], Any], problem: str
) -> None:
    response = await client.post(REGISTER, json=make_body())
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["type"] == problem


async def test_nesting_deeper_than_the_parser_goes_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, content=b"[" * 200_000, headers=JSON)
    assert_error_shape(response, 422, "validation_error")


@pytest.mark.parametrize("body", [b'{"email": ', b'{"email": "\xff"}', b"{'email': 1}"])
async def test_malformed_json_is_a_documented_422(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(LOGIN, content=body, headers=JSON)
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["type"] == "json_invalid"


# --- 2. Body size limit ---


async def test_a_body_over_the_declared_limit_is_refused_413(client: httpx.AsyncClient) -> None:
    response = await client.post(LOGIN, content=b" " * (2 * MIB))
    error = assert_error_shape(response, 413, "payload_too_large")
    assert error["details"] == {"limit": MIB}


async def test_a_chunked_body_is_refused_before_it_is_read_in_full(
    client: httpx.AsyncClient,
) -> None:
    chunk, chunks = b" " * 65_536, 1_600  # 100 MiB, without a Content-Length
    sent = 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(chunks):
            sent += 1
            yield chunk

    response = await client.post(LOGIN, content=stream())
    assert "content-length" not in response.request.headers
    assert_error_shape(response, 413, "payload_too_large")
    assert sent * len(chunk) <= MIB + len(chunk)


async def test_the_limit_is_configurable(settings: Settings, db: Database) -> None:
    body = json.dumps({"email": "someone@example.com", "password": "x" * 3_000}).encode()
    async with app_client(settings, max_request_body_bytes=2_048) as client:
        refused = await client.post(LOGIN, content=body, headers=JSON)
        assert_error_shape(refused, 413, "payload_too_large")
    async with app_client(settings) as client:
        # Under the default limit the same body reaches validation (the password is too long).
        validated = await client.post(LOGIN, content=body, headers=JSON)
        assert_error_shape(validated, 422, "validation_error")


# --- 3. NUL characters are refused as input, not met as a database error ---


async def test_nul_in_the_token_form_username(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": "a\x00@example.com", "password": "whatever1"}
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "username"]


async def test_nul_in_the_event_kind_filter(client: httpx.AsyncClient, user: ApiUser) -> None:
    response = await client.get(
        f"/api/v1/bots/{uuid.uuid4()}/events",
        params={"kind": "started\x00"},
        headers=user.headers,
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "kind"]


async def test_nul_in_a_credential_label(client: httpx.AsyncClient, user: ApiUser) -> None:
    body = {"exchange": "binance", "label": "main\x00", "api_key": "k" * 20, "api_secret": "s" * 20}
    response = await client.post("/api/v1/credentials", json=body, headers=user.headers)
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["body", "label"]


async def test_nul_in_the_admin_email_filter(
    client: httpx.AsyncClient, admin_user: ApiUser
) -> None:
    response = await client.get(
        "/api/v1/admin/users", params={"email": "\x00"}, headers=admin_user.headers
    )
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["query", "email"]


async def test_nul_in_a_json_key_or_a_nested_string(client: httpx.AsyncClient) -> None:
    for body, loc in [
        ({"email\x00": 1}, ["body", "email\\u0000"]),
        ({"a": [{"b": "x\x00"}]}, ["body", "a", 0, "b"]),
    ]:
        response = await client.post(REGISTER, json=body)
        error = assert_error_shape(response, 422, "validation_error")
        assert error["details"][0]["loc"] == loc


async def test_a_route_prefix_can_take_a_larger_body() -> None:
    # No route needs it today; a future upload route gets its own limit, every other keeps 1 MiB.
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=1_024, larger_limits={"/up": 4_096})

    @app.post("/up")
    @app.post("/other")
    async def echo(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        accepted = await client.post("/up", content=b"x" * 3_000)
        refused = await client.post("/other", content=b"x" * 3_000)
    assert accepted.status_code == 200 and accepted.json() == {"size": 3_000}
    assert refused.status_code == 413
    assert refused.json()["error"]["details"] == {"limit": 1_024}
