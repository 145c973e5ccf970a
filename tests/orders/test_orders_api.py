"""A bot's orders, one order's history, and the bot's trades as JSON pages and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import event, select

from autogrid.core.db import Database
from autogrid.models import Order
from autogrid.orders import service as orders_service
from autogrid.orders.schemas import OrderRead
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import BOTS, create_bot
from tests.helpers import ApiUser, assert_error_shape
from tests.orders.factories import add_fill, add_order


@pytest.fixture(autouse=True)
async def _replay_candles(db: Database) -> None:
    await store_replay_candles(db)  # what the default bot body replays


T0 = datetime(2025, 5, 20, 12, 0, tzinfo=UTC)


async def test_orders_are_newest_first_filtered_by_status_and_paginated(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    other_bot = await create_bot(client, user)
    ids = [
        await add_order(db, bot, user.id, created_at=T0 + timedelta(minutes=i), status=status)
        for i, status in enumerate(["filled", "open", "canceled", "open"])
    ]
    await add_order(db, other_bot, user.id, created_at=T0)
    path = f"{BOTS}/{bot['id']}/orders"

    everything = (await client.get(path, headers=user.headers)).json()
    assert [o["id"] for o in everything["items"]] == [str(i) for i in reversed(ids)]
    assert everything["total"] == 4
    first = everything["items"][-1]
    assert first["price"] == "100000" and first["amount"] == "0.002" and first["filled"] == "0"
    assert first["status"] == "filled" and first["intent"] == {"tag": "B3"}

    open_orders = (await client.get(f"{path}?status=open", headers=user.headers)).json()
    assert [o["id"] for o in open_orders["items"]] == [str(ids[3]), str(ids[1])]
    closed = await client.get(f"{path}?status=filled&status=canceled", headers=user.headers)
    assert closed.json()["total"] == 2
    page = (await client.get(f"{path}?limit=1&offset=1", headers=user.headers)).json()
    assert [o["id"] for o in page["items"]] == [str(ids[2])]
    assert_error_shape(await client.get(f"{path}?status=lost", headers=user.headers), 422)


async def test_an_order_shows_its_status_history_and_trades(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    order_id = await add_order(
        db, bot, user.id, created_at=T0, status="filled",
        events=((None, "new"), ("new", "submitting"), ("submitting", "open"), ("open", "filled")),
    )  # fmt: skip
    await add_fill(db, bot, order_id, ts=T0 + timedelta(seconds=2), trade_id="b")
    await add_fill(db, bot, order_id, ts=T0 + timedelta(seconds=1), trade_id="a")

    response = await client.get(f"/api/v1/orders/{order_id}", headers=user.headers)

    assert response.status_code == 200, response.text
    order = response.json()
    assert order["id"] == str(order_id) and order["bot_id"] == bot["id"]
    assert [(e["from_status"], e["to_status"]) for e in order["events"]] == [
        (None, "new"), ("new", "submitting"), ("submitting", "open"), ("open", "filled")
    ]  # fmt: skip
    assert [f["trade_id"] for f in order["fills"]] == ["a", "b"]
    assert order["fills"][0]["price"] == "100000" and order["fills"][0]["fee"] == "0.1"


async def test_trades_are_newest_first_and_can_be_limited_to_a_time_range(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    order_id = await add_order(db, bot, user.id, created_at=T0)
    for minute in range(5):
        await add_fill(db, bot, order_id, ts=T0 + timedelta(minutes=minute), trade_id=f"t{minute}")
    path = f"{BOTS}/{bot['id']}/trades"

    page = (await client.get(f"{path}?limit=2", headers=user.headers)).json()
    assert [f["trade_id"] for f in page["items"]] == ["t4", "t3"]
    assert page["total"] == 5
    window = await client.get(
        path,
        params={"since": (T0 + timedelta(minutes=1)).isoformat(),
                "until": (T0 + timedelta(minutes=3)).isoformat()},
        headers=user.headers,
    )  # fmt: skip
    assert [f["trade_id"] for f in window.json()["items"]] == ["t2", "t1"]
    backwards = await client.get(
        path, params={"since": T0.isoformat(), "until": T0.isoformat()}, headers=user.headers
    )
    assert_error_shape(backwards, 422)
    naive = await client.get(path, params={"since": "2025-05-20T12:00:00"}, headers=user.headers)
    assert_error_shape(naive, 422)


async def test_trades_show_and_filter_on_when_their_price_was_there_not_when_they_settled(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """A paper fill matched against the candle opening at T0 settles at its close a minute later;
    a fill stored without the time (an exchange's trade, a row from before it was kept) has one
    time. The list, its order, its range and the CSV all go by the time the price was there."""
    bot = await create_bot(client, user)
    order_id = await add_order(db, bot, user.id, created_at=T0)
    close = T0 + timedelta(minutes=1)
    await add_fill(db, bot, order_id, ts=close, executed_at=T0, trade_id="candle")
    await add_fill(db, bot, order_id, ts=T0 + timedelta(seconds=30), trade_id="one-time")
    path = f"{BOTS}/{bot['id']}/trades"

    items = (await client.get(path, headers=user.headers)).json()["items"]
    assert [(f["trade_id"], f["ts"], f["settled_at"]) for f in items] == [
        ("one-time", "2025-05-20T12:00:30Z", "2025-05-20T12:00:30Z"),
        ("candle", "2025-05-20T12:00:00Z", "2025-05-20T12:01:00Z"),
    ]
    half = (T0 + timedelta(seconds=30)).isoformat()
    later = await client.get(path, params={"since": half}, headers=user.headers)
    assert [f["trade_id"] for f in later.json()["items"]] == ["one-time"]
    earlier = await client.get(path, params={"until": half}, headers=user.headers)
    assert [f["trade_id"] for f in earlier.json()["items"]] == ["candle"]
    exported = await client.get(f"{path}?format=csv", headers=user.headers)
    rows = list(csv.reader(io.StringIO(exported.text)))[1:]
    assert [(row[0], row[9]) for row in rows] == [
        ("2025-05-20T12:00:00Z", "candle"),
        ("2025-05-20T12:00:30Z", "one-time"),
    ]
    detail = (await client.get(f"/api/v1/orders/{order_id}", headers=user.headers)).json()
    assert [(f["trade_id"], f["ts"]) for f in detail["fills"]] == [
        ("candle", "2025-05-20T12:00:00Z"),
        ("one-time", "2025-05-20T12:00:30Z"),
    ]


async def test_trades_export_as_csv_with_a_header_oldest_first(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    order_id = await add_order(db, bot, user.id, created_at=T0)
    await add_fill(db, bot, order_id, ts=T0 + timedelta(minutes=1), trade_id="t2", side="sell",
                   price="101250.5", amount="0.002", fee="0.2025", fee_currency="USDT")  # fmt: skip
    await add_fill(db, bot, order_id, ts=T0, trade_id="=HYPERLINK(1)", fee_currency=None)

    response = await client.get(f"{BOTS}/{bot['id']}/trades?format=csv", headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.headers["x-truncated"] == "false"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == [
        "time", "symbol", "side", "price", "amount", "cost", "fee", "fee_currency",
        "is_maker", "trade_id", "order_id",
    ]  # fmt: skip
    assert rows[1][0] == "2025-05-20T12:00:00Z"
    assert rows[1][9] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert rows[1][7] == ""
    assert rows[2] == [
        "2025-05-20T12:01:00Z", "BTC/USDT", "sell", "101250.5", "0.002", "202.501", "0.2025",
        "USDT", "true", "t2", str(order_id),
    ]  # fmt: skip
    assert len(rows) == 3


async def test_an_empty_export_is_just_the_header(client: httpx.AsyncClient, user: ApiUser) -> None:
    bot = await create_bot(client, user)
    response = await client.get(f"{BOTS}/{bot['id']}/trades?format=csv", headers=user.headers)
    assert response.text.strip().split("\r\n") == [
        "time,symbol,side,price,amount,cost,fee,fee_currency,is_maker,trade_id,order_id"
    ]


async def test_the_export_is_capped_and_says_so(
    client: httpx.AsyncClient, user: ApiUser, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_service, "MAX_EXPORT_ROWS", 2)
    bot = await create_bot(client, user)
    order_id = await add_order(db, bot, user.id, created_at=T0)
    for second in range(3):
        await add_fill(db, bot, order_id, ts=T0 + timedelta(seconds=second), trade_id=f"t{second}")
    response = await client.get(f"{BOTS}/{bot['id']}/trades?format=csv", headers=user.headers)
    assert response.headers["x-truncated"] == "true"
    assert [row[9] for row in csv.reader(io.StringIO(response.text))][1:] == ["t0", "t1"]


async def test_an_unknown_format_is_422(client: httpx.AsyncClient, user: ApiUser) -> None:
    bot = await create_bot(client, user)
    response = await client.get(f"{BOTS}/{bot['id']}/trades?format=xlsx", headers=user.headers)
    assert_error_shape(response, 422)


async def test_a_missing_order_is_404(client: httpx.AsyncClient, user: ApiUser) -> None:
    response = await client.get(
        "/api/v1/orders/00000000-0000-0000-0000-000000000000", headers=user.headers
    )
    assert_error_shape(response, 404, "not_found")


async def test_a_page_of_orders_reads_rows_as_each_orders_object_reads_and_builds_no_object(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """The list reads Core rows of the orders table: each order reads exactly as its ORM object
    does, and no ORM object is built and tracked per order (that cost more than the query)."""
    bot = await create_bot(client, user)
    for minute, status in enumerate(["filled", "open", "canceled"]):
        await add_order(
            db, bot, user.id, created_at=T0 + timedelta(minutes=minute), status=status, filled="0.5"
        )
    loaded: list[Order] = []

    def remember(target: Order, _context: object) -> None:
        loaded.append(target)

    event.listen(Order, "load", remember)
    try:
        page = await client.get(f"{BOTS}/{bot['id']}/orders", headers=user.headers)
    finally:
        event.remove(Order, "load", remember)
    assert page.status_code == 200, page.text
    assert loaded == []
    async with db.session_scope() as session:
        objects = {str(o.id): o for o in (await session.scalars(select(Order))).all()}
    items = page.json()["items"]
    assert len(items) == 3
    for item in items:
        assert item == OrderRead.model_validate(objects[item["id"]]).model_dump(mode="json")
