from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from autogrid.app import create_app
from autogrid.core.config import Settings
from tests.infra import LIFESPAN_TIMEOUTS

MakeClient = Callable[[Settings], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_client() -> AsyncIterator[MakeClient]:
    """Build an app from the given settings and return a client for it (closed after the test)."""
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def build(settings: Settings) -> httpx.AsyncClient:
        manager = LifespanManager(create_app(settings), **LIFESPAN_TIMEOUTS)
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        )
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
    for manager in managers:
        await manager.__aexit__(None, None, None)


def _assert_not_ready(response: httpx.Response, message: str) -> dict[str, str]:
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert message in error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    checks: dict[str, str] = error["details"]["checks"]
    return checks


async def test_health_is_ok_without_touching_dependencies(
    make_client: MakeClient, settings: Settings
) -> None:
    dead = settings.model_copy(
        update={
            "database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/x",
            "redis_url": "redis://127.0.0.1:1/0",
        }
    )
    client = await make_client(dead)
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_database_and_redis_answer(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    # REDIS_URL doubles as the Celery broker here, so one "redis" check covers both.
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


async def test_not_ready_when_the_database_is_unreachable(
    make_client: MakeClient, settings: Settings
) -> None:
    dead_db = settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/autogrid"}
    )
    client = await make_client(dead_db)
    response = await client.get("/ready")
    checks = _assert_not_ready(response, "database unreachable")
    assert checks == {"database": "unreachable", "redis": "ok"}
    assert "127.0.0.1" not in response.text


async def test_not_ready_when_redis_is_unreachable(
    make_client: MakeClient, settings: Settings
) -> None:
    client = await make_client(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    response = await client.get("/ready")
    checks = _assert_not_ready(response, "redis unreachable")
    assert checks == {"database": "ok", "redis": "unreachable"}


async def test_a_separate_broker_is_checked_on_its_own(
    make_client: MakeClient, settings: Settings
) -> None:
    client = await make_client(
        settings.model_copy(update={"celery_broker_url": "redis://127.0.0.1:1/1"})
    )
    response = await client.get("/ready")
    checks = _assert_not_ready(response, "broker unreachable")
    assert checks == {"database": "ok", "redis": "ok", "broker": "unreachable"}


async def test_a_hanging_database_fails_within_the_timeout(
    make_client: MakeClient, settings: Settings
) -> None:
    # Accepts TCP connections and never answers: a connect without a timeout would hang forever.
    async def swallow(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        hanging = settings.model_copy(
            update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"}
        )
        client = await make_client(hanging)
        started = time.monotonic()
        response = await client.get("/ready")
        assert time.monotonic() - started < 5
        _assert_not_ready(response, "database unreachable")
    finally:
        server.close()


async def test_embedded_mode_checks_the_file_system_broker(
    make_client: MakeClient, settings: Settings, tmp_path: Path
) -> None:
    embedded = settings.model_copy(update={"redis_url": None, "var_dir": tmp_path / "embedded"})
    client = await make_client(embedded)
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert not list((tmp_path / "embedded" / "broker").iterdir()), "the probe file is removed"


async def test_embedded_mode_not_ready_when_the_broker_dir_is_not_writable(
    make_client: MakeClient, settings: Settings, tmp_path: Path
) -> None:
    # A regular file where the var directory should be: no directory can be created below it
    # (chmod would not stop root, which runs these tests in containers).
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    client = await make_client(settings.model_copy(update={"redis_url": None, "var_dir": blocker}))
    response = await client.get("/ready")
    checks = _assert_not_ready(response, "broker unreachable")
    assert checks == {"database": "ok", "broker": "unreachable"}


async def test_ops_routes_are_documented_under_the_ops_tag(openapi_schema: dict[str, Any]) -> None:
    schema = openapi_schema
    for path in ("/health", "/ready", "/metrics"):
        operation = schema["paths"][path]["get"]
        assert operation["tags"] == ["ops"]
    health = schema["paths"]["/health"]["get"]["responses"]["200"]
    assert health["content"]["application/json"]["schema"]["$ref"].endswith("/HealthStatus")
    ready = schema["paths"]["/ready"]["get"]["responses"]
    assert ready["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReadyStatus")
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "text/plain" in schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert not any(path.startswith("/api/v1/health") for path in schema["paths"])
