"""Another user's bot, order or trade is a 404 on every route, exactly like a missing one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from autogrid.core.db import Database
from tests.bots.factories import BOTS, create_bot, grid_body, set_status
from tests.helpers import ApiUser, assert_not_found_for
from tests.orders.factories import add_fill, add_order


def bot_routes(bot_id: str) -> list[tuple[str, str, Any]]:
    path = f"{BOTS}/{bot_id}"
    return [
        ("GET", path, None),
        ("PATCH", path, {"name": "mine now"}),
        ("PATCH", path, {"config": grid_body()["config"]}),
        ("DELETE", path, None),
        ("POST", f"{path}/start", None),
        ("POST", f"{path}/stop", {"cancel_orders": True}),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/resume", None),
        ("POST", f"{path}/reset-breaker", None),
        ("GET", f"{path}/events", None),
        ("GET", f"{path}/orders", None),
        ("GET", f"{path}/trades", None),
        ("GET", f"{path}/trades?format=csv", None),
    ]


async def test_another_users_bot_is_404_on_every_route_and_left_untouched(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    order_id = await add_order(db, bot, user.id, created_at=datetime.now(UTC))
    await add_fill(db, bot, order_id, ts=datetime.now(UTC), trade_id="t1")
    for status in ("stopped", "running", "halted"):  # every transition's precondition in turn
        await set_status(db, bot["id"], status, breaker_reason="x" if status != "running" else None)
        for method, path, body in bot_routes(bot["id"]):
            await assert_not_found_for(client, other_user, method, path, json=body)
    await assert_not_found_for(client, other_user, "GET", f"/api/v1/orders/{order_id}")

    mine = await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert mine.json()["name"] == bot["name"]
    assert mine.json()["status"] == "halted"
    theirs = await client.get(BOTS, headers=other_user.headers)
    assert theirs.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}
    orders = await client.get(f"{BOTS}/{bot['id']}/orders", headers=user.headers)
    assert orders.json()["total"] == 1


async def test_a_missing_bot_answers_exactly_like_someone_elses(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    for (method, path, body), (_, missing, _) in zip(
        bot_routes(bot["id"]), bot_routes(str(uuid.uuid4())), strict=True
    ):
        someone_elses = await client.request(method, path, json=body, headers=other_user.headers)
        nothing = await client.request(method, missing, json=body, headers=other_user.headers)
        assert someone_elses.status_code == nothing.status_code == 404
        assert someone_elses.json()["error"]["message"] == nothing.json()["error"]["message"]


async def test_every_route_needs_a_login(client: httpx.AsyncClient) -> None:
    bot_id = str(uuid.uuid4())
    for method, path, body in [
        ("GET", BOTS, None),
        ("POST", BOTS, grid_body()),
        *bot_routes(bot_id),
    ]:
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, (method, path)
