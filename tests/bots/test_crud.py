"""Listing, reading, editing and deleting bots, and the event journal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select

from autogrid.core.db import Database
from autogrid.models import Bot, BotMetric, Event, Fill, Order, OrderEvent, Plan, User
from tests.bots.factories import (
    BOTS,
    DCA_CONFIG,
    add_credential,
    create_bot,
    dca_body,
    grid_body,
    indicator_body,
    set_status,
)
from tests.helpers import ApiUser, assert_error_shape


async def test_list_is_newest_first_paginated_and_filtered(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    async with db.session_scope() as session:
        row = await session.get(User, user.id)
        assert row is not None
        row.plan = Plan.STARTER
    grid = await create_bot(client, user, grid_body())
    dca = await create_bot(client, user, dca_body())
    rsi = await create_bot(client, user, indicator_body())
    await set_status(db, dca["id"], "running")

    everything = (await client.get(BOTS, headers=user.headers)).json()
    assert [bot["id"] for bot in everything["items"]] == [rsi["id"], dca["id"], grid["id"]]
    assert everything["total"] == 3

    page = (await client.get(f"{BOTS}?limit=2&offset=2", headers=user.headers)).json()
    assert [bot["id"] for bot in page["items"]] == [grid["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 2)

    running = (await client.get(f"{BOTS}?status=running", headers=user.headers)).json()
    assert [bot["id"] for bot in running["items"]] == [dca["id"]]
    assert running["items"][0]["max_deal_funds"] == "450"

    by_type = await client.get(f"{BOTS}?type=grid&type=indicator", headers=user.headers)
    assert {bot["id"] for bot in by_type.json()["items"]} == {grid["id"], rsi["id"]}
    none = await client.get(f"{BOTS}?type=grid&status=running", headers=user.headers)
    assert none.json()["total"] == 0


async def test_a_missing_bot_is_404(client: httpx.AsyncClient, user: ApiUser) -> None:
    response = await client.get(f"{BOTS}/{uuid.uuid4()}", headers=user.headers)
    assert_error_shape(response, 404, "not_found")


async def test_rename_and_retick_any_time(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")

    response = await client.patch(
        f"{BOTS}/{bot['id']}",
        json={"name": "  renamed  ", "tick_interval_seconds": 30},
        headers=user.headers,
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "renamed" and updated["tick_interval_seconds"] == 30
    assert updated["status"] == "running"
    assert updated["config"] == bot["config"]
    assert updated["updated_at"] > bot["updated_at"]
    async with db.session_scope() as session:
        row = await session.get(Bot, uuid.UUID(bot["id"]))
        assert row is not None and row.version == 2


@pytest.mark.parametrize("status", ["starting", "running", "paused", "halted", "error", "stopping"])
@pytest.mark.parametrize("field", ["config", "paper", "breaker"])
async def test_configuration_changes_only_while_stopped(
    client: httpx.AsyncClient, user: ApiUser, db: Database, status: str, field: str
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], status)
    value = {"config": bot["config"], "paper": bot["paper"], "breaker": {}}[field]

    response = await client.patch(
        f"{BOTS}/{bot['id']}", json={field: value, "name": "ignored"}, headers=user.headers
    )

    assert_error_shape(response, 409, "bot_status_conflict")
    error = response.json()["error"]
    assert error["message"] == "stop the bot before changing its configuration"
    assert error["details"] == {"status": status}
    unchanged = (await client.get(f"{BOTS}/{bot['id']}", headers=user.headers)).json()
    assert unchanged["name"] == bot["name"]


async def test_a_new_config_is_validated_like_a_new_bot(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user, dca_body())
    path = f"{BOTS}/{bot['id']}"

    bad_field = await client.patch(
        path, json={"config": {**DCA_CONFIG, "max_safety_orders": 500}}, headers=user.headers
    )
    assert_error_shape(bad_field, 422)
    assert bad_field.json()["error"]["details"][0]["loc"] == [
        "body", "config", "max_safety_orders"
    ]  # fmt: skip
    grid_fields = await client.patch(
        path, json={"config": grid_body()["config"]}, headers=user.headers
    )
    assert_error_shape(grid_fields, 422)
    too_big = await client.patch(
        path, json={"config": {**DCA_CONFIG, "base_order_volume": "20000"}}, headers=user.headers
    )
    assert_error_shape(too_big, 422)
    assert "needs 20350 USDT" in too_big.json()["error"]["message"]
    loose = await client.patch(
        path, json={"breaker": {"max_consecutive_errors": 9}}, headers=user.headers
    )
    assert_error_shape(loose, 422)

    good = await client.patch(
        path,
        json={
            "config": {**DCA_CONFIG, "max_safety_orders": 4},
            "breaker": {"max_consecutive_errors": 3},
        },
        headers=user.headers,
    )

    assert good.status_code == 200, good.text
    updated = good.json()
    assert updated["config"]["max_safety_orders"] == 4
    assert updated["max_deal_funds"] == updated["investment"] == "850"  # 100 + 50 x 15
    assert updated["breaker"]["max_consecutive_errors"] == 3
    assert updated["paper"] == bot["paper"]  # left out: kept
    async with db.session_scope() as session:
        kinds = (await session.scalars(select(Event.type).order_by(Event.id))).all()
        assert kinds == ["created", "updated"]


async def test_smaller_paper_balances_must_still_fund_the_config(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user)
    paper = {**bot["paper"], "balances": {"USDT": "4000"}}
    response = await client.patch(
        f"{BOTS}/{bot['id']}", json={"paper": paper}, headers=user.headers
    )
    assert_error_shape(response, 422)
    assert (
        "needs 5000 USDT but the paper balances hold 4000 USDT"
        in response.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"status": "running"},
        {"symbol": "ETH/USDT"},
        {"type": "dca"},
        {"mode": "live"},
        {"name": ""},
        {"tick_interval_seconds": 0},
        {"config": "grid"},
        {"breaker": {"max_orders_per_minute": 99}},
    ],
)
async def test_bad_updates_are_422(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, object]
) -> None:
    bot = await create_bot(client, user)
    response = await client.patch(f"{BOTS}/{bot['id']}", json=body, headers=user.headers)
    assert_error_shape(response, 422)


async def test_paper_and_credentials_stay_with_their_mode(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    paper_bot = await create_bot(client, user)
    credential = await add_credential(db, user)
    response = await client.patch(
        f"{BOTS}/{paper_bot['id']}", json={"credential_id": str(credential)}, headers=user.headers
    )
    assert_error_shape(response, 422)

    live_body = grid_body(mode="live", credential_id=str(credential), paper=None)
    live = await create_bot(client, user, live_body)
    response = await client.patch(
        f"{BOTS}/{live['id']}", json={"paper": paper_bot["paper"]}, headers=user.headers
    )
    assert_error_shape(response, 422)

    replacement = await add_credential(db, user)
    response = await client.patch(
        f"{BOTS}/{live['id']}", json={"credential_id": str(replacement)}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["credential_id"] == str(replacement)


async def test_delete_removes_the_bot_with_its_orders_fills_and_events(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    kept = await create_bot(client, user)
    bot_id = uuid.UUID(bot["id"])
    now = datetime.now(UTC)
    async with db.session_scope() as session:
        for owner in (bot_id, uuid.UUID(kept["id"])):
            order = Order(
                id=uuid.uuid4(), bot_id=owner, user_id=user.id, client_order_id=uuid.uuid4().hex,
                exchange="binance", symbol="BTC/USDT", side="buy", type="limit",
                price=Decimal(100000), amount=Decimal("0.001"), status="filled",
            )  # fmt: skip
            session.add(order)
            await session.flush()
            session.add(
                OrderEvent(order_id=order.id, to_status="filled", reason="test", created_at=now)
            )
            session.add(
                Fill(ts=now, order_id=order.id, bot_id=owner, trade_id="t1", side="buy",
                     price=Decimal(100000), amount=Decimal("0.001"))
            )  # fmt: skip
            session.add(
                BotMetric(bot_id=owner, ts=now, equity=Decimal(1), realized_pnl=Decimal(0),
                          unrealized_pnl=Decimal(0), position=Decimal(0))
            )  # fmt: skip

    response = await client.delete(f"{BOTS}/{bot['id']}", headers=user.headers)

    assert response.status_code == 204, response.text
    assert_error_shape(await client.get(f"{BOTS}/{bot['id']}", headers=user.headers), 404)
    async with db.session_scope() as session:
        for model, column in [
            (Order, Order.bot_id),
            (Fill, Fill.bot_id),
            (Event, Event.bot_id),
            (BotMetric, BotMetric.bot_id),
        ]:
            gone = await session.scalar(select(func.count()).where(column == bot_id))
            others = await session.scalar(select(func.count()).where(column != bot_id))
            assert (gone, others) == (0, 1), model
        assert await session.scalar(select(func.count()).select_from(OrderEvent)) == 1


@pytest.mark.parametrize("status", ["starting", "running", "paused", "halted", "error", "stopping"])
async def test_delete_needs_a_stopped_bot(
    client: httpx.AsyncClient, user: ApiUser, db: Database, status: str
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], status)
    response = await client.delete(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert_error_shape(response, 409, "bot_status_conflict")
    assert response.json()["error"]["details"] == {"status": status}


async def test_delete_waits_for_orders_the_exchange_may_still_hold(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    async with db.session_scope() as session:
        session.add(
            Order(id=uuid.uuid4(), bot_id=uuid.UUID(bot["id"]), user_id=user.id,
                  client_order_id=uuid.uuid4().hex, exchange="binance", symbol="BTC/USDT",
                  side="buy", type="limit", price=Decimal(1), amount=Decimal(1), status="unknown")
        )  # fmt: skip
    response = await client.delete(f"{BOTS}/{bot['id']}", headers=user.headers)
    assert_error_shape(response, 409)
    assert response.json()["error"]["details"] == {"unresolved_orders": 1}


async def test_deleting_frees_a_plan_slot(client: httpx.AsyncClient, user: ApiUser) -> None:
    bots = [await create_bot(client, user) for _ in range(3)]
    full = await client.post(BOTS, json=grid_body(), headers=user.headers)
    assert_error_shape(full, 403)
    await client.delete(f"{BOTS}/{bots[0]['id']}", headers=user.headers)
    await create_bot(client, user)


async def test_events_are_newest_first_paginated_and_filtered(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    path = f"{BOTS}/{bot['id']}"
    await client.patch(path, json={"name": "two"}, headers=user.headers)
    await client.post(f"{path}/start", headers=user.headers)
    await client.post(f"{path}/stop", headers=user.headers)

    events = (await client.get(f"{path}/events", headers=user.headers)).json()
    assert [e["kind"] for e in events["items"]] == [
        "stop_requested", "start_requested", "updated", "created"
    ]  # fmt: skip
    assert events["items"][0]["data"] == {
        "cancel_orders": True,
        "sell_base": False,
        "initiator": "owner",
    }
    assert events["items"][2]["data"] == {"fields": ["name"]}
    second = (await client.get(f"{path}/events?limit=1&offset=1", headers=user.headers)).json()
    assert [e["kind"] for e in second["items"]] == ["start_requested"]
    assert second["total"] == 4
    only = await client.get(f"{path}/events?kind=created&kind=updated", headers=user.headers)
    assert [e["kind"] for e in only.json()["items"]] == ["updated", "created"]
