"""GET /bots/{id}/deals: a DCA paper bot made through the API runs real deals in the in-process
runtime over real candles; every number is checked against the fills it made."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import httpx
import pytest

from autogrid.bots.deal_repository import orders_of_deals
from autogrid.bots.deals import deal_number, group_by_deal
from autogrid.bots.repository import paper_matched_until
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import Fill, Order
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import OrderStatus
from autogrid.trading.strategies.dca_state import DcaState
from tests.bots.factories import (
    BOTS,
    DCA_CONFIG,
    create_bot,
    dca_body,
    grid_body,
    indicator_body,
    set_status,
)
from tests.exchanges.paper.helpers import MINUTE, real_candles, store_candles
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for
from tests.support.contexts import runtime_context, tick_until_stopped
from tests.support.factories import Clock, fills_of, load_bot, make_bot, make_user

D = Decimal
CANDLES = 200
SPEED = 600
QUOTE = "USDT"
# Tight steps on real BTC/USDT minutes: five deals close (two after safety orders), a sixth is
# open with all three safety orders filled and its take profit resting. One safety order rests
# at a time: when two complete in one decision, the strategy cancels the take profit it placed
# in that same decision, and the runtime raises StaleOrder cancelling a row not yet written.
REPLAY_CONFIG: dict[str, Any] = {
    "safety_order_step_percentage": "0.1",
    "active_safety_orders_count": 1,
    "take_profit": "0.3",
}
WANT_DEALS = 6


class PacedClock(Clock):
    """The wall clock, moved forward by ``move``. A frozen clock would stamp every order of a
    replay tick's many decisions with one creation time; a real one, as in production, does not."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def move(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def deals_url(bot_id: str) -> str:
    return f"{BOTS}/{bot_id}/deals"


async def get_deals(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, **params: int
) -> dict[str, Any]:
    response = await client.get(deals_url(bot_id), params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_replay_bot(
    client: httpx.AsyncClient, user: ApiUser, settings: Settings, db: Database
) -> str:
    """A DCA paper replay bot created and started through the API, then ticked by the real
    runtime (in-process) over ``CANDLES`` real minutes."""
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    paper = {
        "price_source": "replay",
        "timeframe": "1m",
        "start": (candles[0].ts + MINUTE).isoformat(),  # decisions at candle closes
        "speed": SPEED,
        "balances": {QUOTE: "10000"},
    }
    bot = await create_bot(client, user, {**dca_body(**REPLAY_CONFIG), "paper": paper})
    started = await client.post(f"{BOTS}/{bot['id']}/start", headers=user.headers)
    assert started.status_code == 202, started.text

    clock = PacedClock()
    ctx = runtime_context(settings, db, clock, replay_steps=100)
    try:
        await tick_bot(ctx, uuid.UUID(bot["id"]))  # starting -> running: opens the account
        clock.move((CANDLES * MINUTE / SPEED + timedelta(seconds=1)).total_seconds())
        await tick_until_stopped(ctx, db, uuid.UUID(bot["id"]), CANDLES // 100 + 4)
    finally:
        await ctx.close()
    return str(bot["id"])


def hundredths_of_percent(profit: Decimal, cost: Decimal) -> Decimal:
    """profit / cost x 100 at the database's 18 decimals (as every ROI of the API)."""
    with localcontext() as wide:
        wide.prec = 80
        return (profit / cost * 100).quantize(Decimal(1).scaleb(-18))


class Totals:
    """A deal's buys and sells summed from its fills, as the strategy is meant to count them."""

    def __init__(self, fills: Sequence[Fill]) -> None:
        buys = [f for f in fills if f.side == "buy"]
        sells = [f for f in fills if f.side == "sell"]
        self.amount = sum((f.amount for f in buys), D(0))
        self.notional = sum((f.price * f.amount for f in buys), D(0))
        self.cost = self.notional + sum((f.fee for f in buys if f.fee_currency == QUOTE), D(0))
        self.proceeds = sum(
            (f.price * f.amount - (f.fee if f.fee_currency == QUOTE else 0) for f in sells), D(0)
        )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_dca_bot_lists_its_real_deals_newest_first_with_their_orders_by_page(
    client: httpx.AsyncClient, user: ApiUser, settings: Settings, db: Database
) -> None:
    bot_id = await run_replay_bot(client, user, settings, db)
    body = await get_deals(client, user, bot_id)
    deals = body["items"]
    assert (body["total"], body["limit"], body["offset"]) == (WANT_DEALS, 50, 0)
    assert [d["number"] for d in deals] == [6, 5, 4, 3, 2, 1]
    assert [d["status"] for d in deals] == ["open"] + ["closed"] * 5

    fills_by_order: dict[str, list[Fill]] = defaultdict(list)
    for fill in await fills_of(db, uuid.UUID(bot_id)):
        fills_by_order[str(fill.order_id)].append(fill)
    listed: set[str] = set()
    for deal in deals:
        tags = [o["tag"] for o in deal["orders"]]
        assert tags[0] == f"D{deal['number']}.BO"  # oldest first: the base order leads
        assert all(tag.startswith(f"D{deal['number']}.") for tag in tags)
        assert [o["created_at"] for o in deal["orders"]] == sorted(
            o["created_at"] for o in deal["orders"]
        )
        listed |= {o["id"] for o in deal["orders"]}
        fills = [f for o in deal["orders"] for f in fills_by_order[o["id"]]]
        totals = Totals(fills)
        assert totals.amount > 0
        assert D(deal["amount"]) == totals.amount
        assert D(deal["cost"]) == totals.cost
        assert D(deal["proceeds"]) == totals.proceeds
        # The average entry is the buys' price x amount over their amount: fees are in the cost.
        assert D(deal["average_entry"]) == totals.notional / totals.amount
        assert D(deal["base_price"]) == D(fills_by_order[deal["orders"][0]["id"]][0].price)
        filled_safety = [
            o for o in deal["orders"] if ".SO" in o["tag"] and o["status"] == OrderStatus.FILLED
        ]
        assert deal["safety_orders_filled"] == len(filled_safety)
        for order in deal["orders"]:
            assert set(order) >= {
                "id", "tag", "side", "type", "status", "price", "amount", "filled",
                "average_price", "created_at",
            }  # fmt: skip
            assert D(order["filled"]) == sum((f.amount for f in fills_by_order[order["id"]]), D(0))

    closed = deals[1:]
    for deal in closed:
        profit = D(deal["proceeds"]) - D(deal["cost"])
        assert D(deal["profit"]) == profit
        assert D(deal["profit_percentage"]) == hundredths_of_percent(profit, D(deal["cost"]))
        assert deal["close_reason"] == "take_profit" and deal["take_profit_price"] is None
        assert profit > 0
        assert deal["duration_seconds"] == int(
            (at(deal["closed_at"]) - at(deal["opened_at"])).total_seconds()
        )
        assert deal["duration_seconds"] > 0
        sells = [o for o in deal["orders"] if o["side"] == "sell" and D(o["filled"]) > 0]
        assert [o["tag"].split(".")[1][:2] for o in sells] == ["TP"]  # one take profit sold
    for newer, older in itertools.pairwise(closed):
        assert at(newer["opened_at"]) >= at(older["closed_at"])  # no cooldown: back to back
    assert [d["safety_orders_filled"] for d in closed] == [2, 3, 0, 0, 0]

    current = deals[0]
    bot = await load_bot(db, uuid.UUID(bot_id))
    decided_until = at(bot.state["decided_until"])
    assert current["closed_at"] is None and current["close_reason"] is None
    assert current["profit"] is None and current["profit_percentage"] is None
    assert D(current["proceeds"]) == 0
    assert at(current["opened_at"]) >= at(closed[0]["closed_at"])
    # A replay's now is the candle time it has traded up to (what its paper account matched),
    # not the wall clock, nor its last decision: the take profit rested, deciding nothing, for
    # candles after it, and the deal aged on meanwhile.
    async with db.session_scope() as session:
        matched = await paper_matched_until(session, uuid.UUID(bot.state["paper"]["account_id"]))
    assert matched is not None and matched > decided_until
    assert current["duration_seconds"] == int((matched - at(current["opened_at"])).total_seconds())
    assert current["safety_orders_filled"] == 3
    # Its take-profit rested until the replay ended: the bot then stopped itself, cancelling it.
    assert bot.status == "stopped"
    last_tp = [
        o
        for o in current["orders"]
        if ".TP" in o["tag"] and o["price"] == current["take_profit_price"]
    ]
    assert [o["status"] for o in last_tp] == ["canceled"]
    assert D(current["take_profit_price"]) > D(current["average_entry"])

    # Every deal order of the bot is listed, under its own deal.
    every = await client.get(f"{BOTS}/{bot_id}/orders", params={"limit": 200}, headers=user.headers)
    deal_orders = {o["id"] for o in every.json()["items"] if o["intent"]["tag"].startswith("D")}
    assert listed == deal_orders

    await check_pages(client, user, bot_id, body)


async def check_pages(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, whole: dict[str, Any]
) -> None:
    """The one page shape: limit/offset slices of the same list, the total on every page."""
    pages = [
        await get_deals(client, user, bot_id, limit=2, offset=offset) for offset in (0, 2, 4, 6)
    ]
    assert [[d["number"] for d in page["items"]] for page in pages] == [[6, 5], [4, 3], [2, 1], []]
    assert {(p["total"], p["limit"]) for p in pages} == {(WANT_DEALS, 2)}
    assert [p["offset"] for p in pages] == [0, 2, 4, 6]
    assert [d for page in pages for d in page["items"]] == whole["items"]
    too_big = await client.get(deals_url(bot_id), params={"limit": 201}, headers=user.headers)
    assert_error_shape(too_big, 422, "validation_error")


async def test_a_dca_bot_that_never_ran_has_no_deals(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    bot = await create_bot(client, user, dca_body())
    body = await get_deals(client, user, bot["id"])
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_a_dca_bot_whose_strategy_keeps_no_deals_has_none(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """A schedule-only DCA bot's strategy saves an empty state (written here as it would)."""
    bot = await create_bot(client, user, dca_body())
    await set_status(db, bot["id"], "running", state={"strategy": {}})
    body = await get_deals(client, user, bot["id"])
    assert (body["items"], body["total"]) == ([], 0)


async def test_an_open_deal_shows_when_its_rejected_take_profit_goes_again(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """The exchange keeps rejecting the deal's take profit: the deal has none resting, and its
    owner sees when it is placed again (``tp_retry_at``), not a deal that simply has none."""
    bot = await create_bot(client, user, dca_body())
    opened = datetime.now(UTC) - timedelta(minutes=5)
    retry_at = datetime.now(UTC) + timedelta(minutes=2)
    deal = DcaState(
        phase="in_deal",
        deal=1,
        opened_at=opened,
        base_price=D(100),
        tp_refusals=3,
        tp_retry_at=retry_at,
    )
    await set_status(db, bot["id"], "running", state={"strategy": deal.to_dict()})
    [shown] = (await get_deals(client, user, bot["id"]))["items"]
    assert shown["take_profit_price"] is None
    assert datetime.fromisoformat(shown["take_profit_retry_at"]) == retry_at

    waited = replace(deal, tp_retry_at=opened)  # its wait is over: placed at the next decision
    await set_status(db, bot["id"], "running", state={"strategy": waited.to_dict()})
    [shown] = (await get_deals(client, user, bot["id"]))["items"]
    assert shown["take_profit_retry_at"] is None


@pytest.mark.parametrize("body", [grid_body(), indicator_body()], ids=["grid", "indicator"])
async def test_only_dca_bots_have_deals(
    client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any]
) -> None:
    bot = await create_bot(client, user, body)
    response = await client.get(deals_url(bot["id"]), headers=user.headers)
    assert_error_shape(response, 409, "not_a_dca_bot")
    assert response.json()["error"]["details"] == {"type": body["type"]}


async def test_another_users_bot_is_not_found(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser
) -> None:
    dca = await create_bot(client, user, dca_body())
    grid = await create_bot(client, user, grid_body())
    # Not even the type leaks: someone else's grid bot is a 404, not a 409.
    for bot in (dca, grid):
        await assert_not_found_for(client, other_user, "GET", deals_url(bot["id"]))
    await assert_not_found_for(client, user, "GET", deals_url(str(uuid.uuid4())))


async def test_the_deals_route_is_documented(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/api/v1/bots/{bot_id}/deals"]["get"]
    assert operation["summary"].startswith("A DCA bot's deals")
    assert {"200", "404", "409"} <= set(operation["responses"])
    assert "last 200 closed deals" in operation["responses"]["200"]["description"]
    deal = schema["components"]["schemas"]["DealRead"]["properties"]
    assert {"profit_percentage", "duration_seconds", "take_profit_price", "orders"} <= set(deal)


@pytest.mark.parametrize(
    ("tag", "number"),
    [
        ("D1.BO", 1),
        ("D12.SO3", 12),
        ("D7.TP10", 7),
        ("D200.EXIT", 200),
        ("BUY.2026-01-01T00:00", None),  # a scheduled buy of the same bot
        ("D.BO", None),
        ("DX.BO", None),
        ("D3", None),
        (None, None),
    ],
)
def test_an_orders_deal_is_the_number_in_its_tag(tag: str | None, number: int | None) -> None:
    assert deal_number(tag) == number


def test_a_restarted_bots_deal_leaves_out_the_same_numbered_deal_of_its_earlier_run() -> None:
    """A fresh start resets the strategy, so numbering starts again at 1: a deal's orders are
    those from its newest base order on (orders of one decision may share a creation time)."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def order(tag: str, minutes: int) -> Order:
        return Order(
            id=uuid.uuid4(), intent={"tag": tag}, created_at=t0 + timedelta(minutes=minutes)
        )

    earlier = [order("D1.BO", 0), order("D1.SO1", 1), order("D1.TP1", 1), order("D2.BO", 5)]
    later = [order("D1.SO1", 60), order("D1.BO", 60), order("D1.TP1", 61)]
    scheduled = order("BUY.2026-01-01T02:00", 62)
    grouped = group_by_deal([*earlier, *later, scheduled])
    assert grouped == {1: tuple(later), 2: (earlier[3],)}


async def test_a_deals_orders_are_found_by_tag_on_both_databases(database: Database) -> None:
    """The tag is read out of the intent JSON: JSONB on PostgreSQL, JSON text on SQLite."""
    user_id = await make_user(database)
    bot_id = await make_bot(database, user_id, bot_type="dca", strategy=DCA_CONFIG)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    tags = ["D1.BO", "D1.TP1", "D12.BO", "D2.BO", "BUY.2026-01-01T00:00", None]
    async with database.session_scope() as session:
        for i, tag in enumerate(tags):
            session.add(
                Order(
                    id=uuid.uuid4(),
                    bot_id=bot_id,
                    user_id=user_id,
                    client_order_id=f"ag{i:030d}",
                    exchange="binance",
                    symbol="BTC/USDT",
                    side="buy",
                    type="market",
                    amount=D("0.001"),
                    status="filled",
                    intent={"tag": tag} if tag else None,
                    created_at=t0 + timedelta(seconds=i),
                    updated_at=t0 + timedelta(seconds=i),
                )
            )
    async with database.session_scope() as session:
        found = await orders_of_deals(session, bot_id, [1, 12])
        assert [(o.intent or {})["tag"] for o in found] == ["D1.BO", "D1.TP1", "D12.BO"]
        assert await orders_of_deals(session, bot_id, []) == ()
