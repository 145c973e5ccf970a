"""Signals tests: paper replay bots to target (their candles stored), sources made through the
API, and posts as a sender makes them."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.support.fixtures import (  # noqa: F401 (fixtures are found by name)
    clock,
    ctx,
    sim,
)

SOURCES = "/api/v1/signal-sources"
SIGNALS = "/api/v1/signals"


@pytest.fixture(autouse=True)
async def replay_candles(db: Database) -> None:
    await store_replay_candles(db)


async def make_source(
    client: httpx.AsyncClient, user: ApiUser, bot_ids: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    """A source (its answer carries the token) targeting ``bot_ids``, or a new bot of the user."""
    if bot_ids is None:
        bot_ids = [(await create_bot(client, user))["id"]]
    body = {"name": "tradingview", "bot_ids": bot_ids, **fields}
    response = await client.post(SOURCES, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    source: dict[str, Any] = response.json()
    return source


async def post_signal(
    client: httpx.AsyncClient, token: str, body: Any, content_type: str = "application/json"
) -> httpx.Response:
    content = body if isinstance(body, str | bytes) else json.dumps(body)
    return await client.post(
        f"{SIGNALS}/{token}", content=content, headers={"Content-Type": content_type}
    )


async def signals_of(client: httpx.AsyncClient, user: ApiUser, **params: Any) -> list[Any]:
    response = await client.get(SIGNALS, params={"limit": 200, **params}, headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def events_of(client: httpx.AsyncClient, user: ApiUser, *types: str) -> list[Any]:
    response = await client.get(
        "/api/v1/events", params={"type": list(types), "limit": 200}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items
