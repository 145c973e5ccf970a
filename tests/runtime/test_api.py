"""The runtime's routes: cancel an order, stats exact to the cent, bucketed metrics, the kill
switch; another user's bot or order is a 404 everywhere."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from autogrid.core.db import Database
from autogrid.models import BotMetric, Fill, Order
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot, grid_body
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for
from tests.runtime.factories import load_bot, set_bot


@pytest.fixture(autouse=True)
async def _replay_candles(db: Database) -> None:
    await store_replay_candles(db)  # what the default bot body replays


D = Decimal
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def add_order(
    db: Database, bot_id: uuid.UUID, user_id: uuid.UUID, status: str, **fields: Any
) -> uuid.UUID:
    order_id = uuid.uuid4()
    async with db.session_scope() as session:
        session.add(
            Order(
                id=order_id,
                bot_id=bot_id,
                user_id=user_id,
                client_order_id="ag" + uuid.uuid4().hex[:30],
                exchange_order_id=fields.pop("exchange_order_id", "42"),
                exchange="binance",
                symbol="BTC/USDT",
                side=fields.pop("side", "buy"),
                type="limit",
                price=D("100000"),
                amount=D("0.01"),
                filled=fields.pop("filled", D(0)),
                status=status,
                intent={"tag": "B1"},
                version=1,
                **fields,
            )
        )
    return order_id


async def add_fill(
    db: Database,
    order_id: uuid.UUID,
    bot_id: uuid.UUID,
    side: str,
    price: str,
    amount: str,
    fee: str,
    fee_currency: str,
    minutes: int,
) -> None:
    async with db.session_scope() as session:
        session.add(
            Fill(
                ts=T0 + timedelta(minutes=minutes),
                order_id=order_id,
                bot_id=bot_id,
                trade_id=uuid.uuid4().hex,
                side=side,
                price=D(price),
                amount=D(amount),
                fee=D(fee),
                fee_currency=fee_currency,
            )
        )


async def test_cancel_an_order_commits_pending_cancel(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    bot_id = uuid.UUID(bot["id"])
    live = await add_order(db, bot_id, user.id, "open")
    done = await add_order(db, bot_id, user.id, "filled", filled=D("0.01"))
    fresh = await add_order(db, bot_id, user.id, "new", exchange_order_id=None)

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


async def test_stats_are_exact_against_a_hand_computation(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user, grid_body())
    bot_id = uuid.UUID(bot["id"])
    buy = await add_order(db, bot_id, user.id, "filled")
    sell = await add_order(db, bot_id, user.id, "filled", side="sell")
    # Buy 0.01 BTC at 100000 (fee 0.00001 BTC), buy 0.01 at 98000 (fee 0.98 USDT), sell 0.015 at
    # 101000 (fee 1.515 USDT).
    await add_fill(db, buy, bot_id, "buy", "100000", "0.01", "0.00001", "BTC", 0)
    await add_fill(db, buy, bot_id, "buy", "98000", "0.01", "0.98", "USDT", 1)
    await add_fill(db, sell, bot_id, "sell", "101000", "0.015", "1.515", "USDT", 2)
    state = {"last_price": "99000", "strategy": {"grid_profit": "12.5"}}
    await set_bot(db, bot_id, state=state)

    response = await client.get(f"/api/v1/bots/{bot_id}/stats", headers=user.headers)

    assert response.status_code == 200, response.text
    stats = response.json()
    # By hand: position 0.00999 + 0.01 = 0.01999 BTC costing 1000 + 980.98 = 1980.98 USDT;
    # the sale takes 0.015 of it at 1980.98 * 0.015 / 0.01999 = 1486.478239..., for proceeds of
    # 1515 - 1.515 = 1513.485: realized 27.006760...; 0.00499 BTC remain, costing 494.501760...,
    # worth 494.01 at 99000: unrealized -0.491760...
    cents = D("0.01")
    assert D(stats["position"]) == D("0.00499")
    assert D(stats["realized_pnl"]).quantize(cents) == D("27.01")
    assert D(stats["unrealized_pnl"]).quantize(cents) == D("-0.49")
    assert D(stats["total_pnl"]).quantize(cents) == D("26.52")
    assert D(stats["average_entry"]).quantize(cents) == D("99098.55")
    assert D(stats["fees"]) == D("1") + D("0.98") + D("1.515")  # 0.00001 BTC at 100000 = 1
    assert stats["grid_profit"] == "12.5"
    assert (stats["trades"], stats["buys"], stats["sells"]) == (3, 2, 1)
    assert D(stats["roi_pct"]).quantize(cents) == D("0.53")  # of the 5000 invested
    assert D(stats["volume"]) == D("1000") + D("980") + D("1515")
    await assert_not_found_for(client, other_user, "GET", f"/api/v1/bots/{bot_id}/stats")


async def test_metrics_are_bucketed_to_the_last_sample_of_each_interval(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    bot_id = uuid.UUID(bot["id"])
    async with db.session_scope() as session:
        for minutes, equity in [(0, "100"), (30, "101"), (59, "102"), (61, "99"), (150, "105")]:
            session.add(
                BotMetric(
                    bot_id=bot_id,
                    ts=T0 + timedelta(minutes=minutes),
                    equity=D(equity),
                    realized_pnl=D(0),
                    unrealized_pnl=D(equity) - 100,
                    position=D("0.01"),
                    price=D("100000"),
                )
            )
    query = {
        "interval": "1h",
        "since": (T0 - timedelta(hours=1)).isoformat(),
        "until": (T0 + timedelta(hours=5)).isoformat(),
    }

    response = await client.get(
        f"/api/v1/bots/{bot_id}/metrics", params=query, headers=user.headers
    )

    assert response.status_code == 200, response.text
    points = response.json()["points"]
    assert [(p["ts"][:16], p["equity"]) for p in points] == [
        ("2025-06-01T12:00", "102"),
        ("2025-06-01T13:00", "99"),
        ("2025-06-01T14:00", "105"),
    ]
    assert points[1]["unrealized_pnl"] == "-1"
    await assert_not_found_for(client, other_user, "GET", f"/api/v1/bots/{bot_id}/metrics")


async def test_the_kill_switch_halts_every_bot_and_only_admins_touch_it(
    client: httpx.AsyncClient, db: Database, user: ApiUser, admin_user: ApiUser
) -> None:
    running = uuid.UUID((await create_bot(client, user))["id"])
    stopped = uuid.UUID((await create_bot(client, user))["id"])
    await set_bot(db, running, status="running")

    forbidden = await client.post(
        "/api/v1/admin/kill-switch", json={"reason": "drill"}, headers=user.headers
    )
    assert_error_shape(forbidden, 403)
    engaged = await client.post(
        "/api/v1/admin/kill-switch", json={"reason": "drill"}, headers=admin_user.headers
    )
    assert engaged.status_code == 200, engaged.text
    assert engaged.json()["engaged"] is True and engaged.json()["halted_bots"] == 1

    assert (await load_bot(db, running)).status == "halted"
    assert (await load_bot(db, running)).breaker_reason == "kill switch: drill"
    assert (await load_bot(db, stopped)).status == "stopped"
    status = await client.get("/api/v1/admin/kill-switch", headers=admin_user.headers)
    assert status.json()["engaged"] is True and status.json()["reason"] == "drill"

    released = await client.post("/api/v1/admin/kill-switch/release", headers=admin_user.headers)
    assert released.json()["engaged"] is False
    again = await client.post("/api/v1/admin/kill-switch/release", headers=admin_user.headers)
    assert_error_shape(again, 409)
    # The owner resets the breaker to run again.
    reset = await client.post(f"/api/v1/bots/{running}/reset-breaker", headers=user.headers)
    assert reset.status_code == 200, reset.text
    assert (await load_bot(db, running)).status == "running"
