"""An app a test has finished with is garbage: a test process starts hundreds of apps, and kept
alive they took gigabytes and slowed every full garbage collection (``release_finished_apps``)."""

from __future__ import annotations

import gc
import weakref

import httpx
from asgi_lifespan import LifespanManager

from autogrid.app import create_app
from autogrid.core.config import Settings
from tests.infra import LIFESPAN_TIMEOUTS, release_finished_apps


async def _serve_once(settings: Settings) -> weakref.ref[object]:
    application = create_app(settings)
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for path in ("/docs", "/redoc", "/openapi.json", "/health", "/api/v1/bots"):
                await http.get(path)
    return weakref.ref(application)


async def test_a_finished_app_is_garbage(settings: Settings) -> None:
    finished = await _serve_once(settings)

    release_finished_apps()
    gc.collect()

    assert finished() is None
