"""Cancelling an order: a live one is committed as pending_cancel (the bot's next tick sends
it), a new one is withdrawn at once, a finished one is refused; another user's is a 404."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for
from tests.orders.factories import add_order


@pytest.fixture(autouse=True)
async def _replay_candles(db: Database) -> None:
    await store_replay_candles(db)  # what the default bot body replays


T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def test_cancel_an_order_commits_pending_cancel(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    live = await add_order(db, bot, user.id, created_at=T0, status="open", events=())
    done = await add_order(
        db, bot, user.id, created_at=T0, status="filled", filled="0.002", events=()
    )
    fresh = await add_order(
        db, bot, user.id, created_at=T0, status="new", exchange_order_id=None, events=()
    )

    await assert_not_found_for(client, other_user, "POST", f"/api/v1/orders/{live}/cancel")
    response = await client.post(f"/api/v1/orders/{live}/cancel", headers=user.headers)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending_cancel"
    assert response.json()["cancel_pending"] is True

    withdrawn = await client.post(f"/api/v1/orders/{fresh}/cancel", headers=user.headers)
    assert withdrawn.json()["status"] == "canceled"
    assert withdrawn.json()["cancel_pending"] is False

    refused = await client.post(f"/api/v1/orders/{done}/cancel", headers=user.headers)
    assert_error_shape(refused, 409, "order_not_cancellable")
    detail = await client.get(f"/api/v1/orders/{live}", headers=user.headers)
    assert [e["to_status"] for e in detail.json()["events"]] == ["pending_cancel"]
