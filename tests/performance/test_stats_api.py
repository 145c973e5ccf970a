"""A bot's stats exact to the cent and its metrics bucketed to the last sample of each interval,
over the API; another user's bot is a 404."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from autogrid.core.db import Database
from autogrid.models import BotMetric
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot, grid_body
from tests.helpers import ApiUser, assert_not_found_for
from tests.orders.factories import add_fill, add_order
from tests.support.factories import set_bot


@pytest.fixture(autouse=True)
async def _replay_candles(db: Database) -> None:
    await store_replay_candles(db)  # what the default bot body replays


D = Decimal
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def test_stats_are_exact_against_a_hand_computation(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    bot = await create_bot(client, user, grid_body())
    bot_id = uuid.UUID(bot["id"])
    buy = await add_order(db, bot, user.id, created_at=T0, status="filled", amount="0.02")
    sell = await add_order(
        db, bot, user.id, created_at=T0, status="filled", side="sell", amount="0.015"
    )
    # Buy 0.01 BTC at 100000 (fee 0.00001 BTC), buy 0.01 at 98000 (fee 0.98 USDT), sell 0.015 at
    # 101000 (fee 1.515 USDT).
    fills = [
        (buy, "buy", "100000", "0.01", "0.00001", "BTC"),
        (buy, "buy", "98000", "0.01", "0.98", "USDT"),
        (sell, "sell", "101000", "0.015", "1.515", "USDT"),
    ]
    for minute, (order_id, side, price, amount, fee, fee_currency) in enumerate(fills):
        await add_fill(
            db,
            bot,
            order_id,
            ts=T0 + timedelta(minutes=minute),
            trade_id=f"t{minute}",
            side=side,
            price=price,
            amount=amount,
            fee=fee,
            fee_currency=fee_currency,
        )
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
