"""Apps with adjusted settings (low rate limits, no Redis) for the auth tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from autogrid.app import create_app
from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.infra import LIFESPAN_TIMEOUTS

AppFactory = Callable[..., Any]


@pytest.fixture
async def make_app(settings: Settings, db: Database) -> AsyncIterator[AppFactory]:
    """``await make_app(**setting_overrides)`` starts another app on the same test database."""
    async with AsyncExitStack() as stack:

        async def start(**overrides: Any) -> FastAPI:
            application = create_app(settings.model_copy(update=overrides))
            await stack.enter_async_context(LifespanManager(application, **LIFESPAN_TIMEOUTS))
            return application

        yield start


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """``make_client(app, ip="10.0.0.1")``: a client whose requests come from ``ip``."""
    clients: list[httpx.AsyncClient] = []

    def build(application: FastAPI, ip: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=application, client=(ip, 50_000))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(http)
        return http

    yield build
    for http in clients:
        await http.aclose()
