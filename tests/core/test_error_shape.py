"""Every failure, from any layer, reaches the client in the one error shape with its request id."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from autogrid.app import create_app
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.errors import AppError
from autogrid.observability import configure_logging
from tests.infra import LIFESPAN_TIMEOUTS

LEAKY_DETAIL = "pool exhausted talking to postgresql://app:pa55word@db/autogrid"


class QuotaExceeded(AppError):
    status_code = 409
    code = "bot_quota_exceeded"


class BotDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    investment: int = Field(gt=0)


def _throwaway_router() -> APIRouter:
    router = APIRouter(prefix="/_test")

    @router.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @router.post("/bots")
    async def create_bot(draft: BotDraft) -> dict[str, str]:
        return {"name": draft.name}

    @router.post("/quota")
    async def over_quota() -> None:
        raise QuotaExceeded("you already run 5 bots", details={"limit": 5})

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(LEAKY_DETAIL)

    return router


@pytest.fixture
async def error_app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    application.include_router(_throwaway_router())
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        yield application


@pytest.fixture
async def error_client(error_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=error_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def log_stream(error_app: FastAPI, settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_json": True}), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert error["request_id"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    return dict(error)


async def test_unknown_route_uses_the_error_shape(error_client: httpx.AsyncClient) -> None:
    response = await error_client.get("/api/v1/does-not-exist")
    error = assert_error_shape(response, 404, "not_found")
    assert "/api/v1/does-not-exist" in error["message"]


async def test_wrong_method(error_client: httpx.AsyncClient) -> None:
    response = await error_client.post("/health")
    error = assert_error_shape(response, 405, "method_not_allowed")
    assert "POST" in error["message"]


async def test_invalid_path_parameter(error_client: httpx.AsyncClient) -> None:
    response = await error_client.get("/_test/items/not-a-number")
    error = assert_error_shape(response, 422, "validation_error")
    assert error["details"][0]["loc"] == ["path", "item_id"]


async def test_invalid_body_does_not_echo_the_input(error_client: httpx.AsyncClient) -> None:
    response = await error_client.post(
        "/_test/bots", json={"name": "g", "investment": -1, "owner_id": "s3cret-owner"}
    )
    error = assert_error_shape(response, 422, "validation_error")
    locations = {tuple(item["loc"]) for item in error["details"]}
    assert ("body", "investment") in locations
    assert ("body", "owner_id") in locations
    assert all(set(item) == {"loc", "msg", "type"} for item in error["details"])
    assert "s3cret-owner" not in response.text


async def test_domain_error_keeps_its_status_code_and_details(
    error_client: httpx.AsyncClient,
) -> None:
    response = await error_client.post("/_test/quota", headers={"X-Request-ID": "quota-1"})
    error = assert_error_shape(response, 409, "bot_quota_exceeded")
    assert error["message"] == "you already run 5 bots"
    assert error["details"] == {"limit": 5}
    assert error["request_id"] == "quota-1"


async def test_unexpected_exception_is_a_bare_500(
    error_client: httpx.AsyncClient, log_stream: io.StringIO
) -> None:
    response = await error_client.get("/_test/boom")
    error = assert_error_shape(response, 500, "internal_error")
    assert error["message"] == "internal server error"
    assert error["details"] is None
    for leaked in ("RuntimeError", "Traceback", "pool exhausted", "pa55word", "boom"):
        assert leaked not in response.text
    # The operator still gets the traceback, in the log, tied to the request and scrubbed.
    logged = log_stream.getvalue()
    assert "RuntimeError: pool exhausted" in logged
    assert error["request_id"] in logged
    assert "pa55word" not in logged


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/bots", "GET, POST"),
        ("/api/v1/bots/2b0f3e52-8f7e-4d7c-9a47-5d1c2a0b9e11", "DELETE, GET, PATCH"),
        ("/api/v1/backtests/sweeps", "GET, POST"),
        ("/health", "GET"),
    ],
)
async def test_405_lists_every_method_the_path_serves(
    error_client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    # Starlette named only the first matching route's methods: OPTIONS /bots said "Allow: POST".
    response = await error_client.options(path)
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == allowed


async def test_a_path_word_is_not_read_as_a_backtest_id(error_client: httpx.AsyncClient) -> None:
    # DELETE /backtests/sweeps used to reach DELETE /backtests/{backtest_id}: "not a UUID", 422.
    response = await error_client.delete("/api/v1/backtests/sweeps")
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "GET, POST"
