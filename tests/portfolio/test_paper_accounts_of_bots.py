"""A paper bot's simulated money is in the portfolio while the bot trades on it, and only then:
a bot whose paper settings changed opened a fresh account, and its old one no longer counts; a
deleted bot takes its paper accounts (balances, orders, trades) with it. Through the API, the
bot ticked by the real runtime (in-process) over real candles."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models.paper import PaperAccount, PaperBalance, PaperOrder, PaperTrade
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders.states import TERMINAL_STATUSES
from tests.bots.factories import BOTS, create_bot, grid_body
from tests.exchanges.paper.helpers import MINUTE, real_candles, store_candles
from tests.helpers import ApiUser, assert_error_shape
from tests.support.contexts import runtime_context
from tests.support.factories import Clock, load_bot, orders_of

URL = "/api/v1/portfolio"
CANDLES = 120


def paper_settings(first_ts: Any, balance: str) -> dict[str, Any]:
    return {
        "price_source": "replay",
        "timeframe": "1m",
        "start": (first_ts + MINUTE).isoformat(),
        "speed": 60,
        "balances": {"USDT": balance},
    }


async def paper_account_of(db: Database, bot_id: uuid.UUID) -> uuid.UUID:
    state = (await load_bot(db, bot_id)).state
    return uuid.UUID(state["paper"]["account_id"])


async def rows_of(db: Database, accounts: list[uuid.UUID]) -> dict[str, int]:
    """How many rows of each paper table belong to ``accounts``."""
    belonging: dict[str, Any] = {
        "paper_accounts": PaperAccount.id,
        "paper_balances": PaperBalance.account_id,
        "paper_orders": PaperOrder.account_id,
        "paper_trades": PaperTrade.account_id,
    }
    async with db.session_scope() as session:
        return {
            table: await session.scalar(select(func.count()).where(column.in_(accounts))) or 0
            for table, column in belonging.items()
        }


async def test_the_portfolio_holds_a_paper_bots_current_account_and_a_delete_takes_them_all(
    client: httpx.AsyncClient, user: ApiUser, settings: Settings, db: Database
) -> None:
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    body = grid_body(paper=paper_settings(candles[0].ts, "10000"))
    body["config"].update(lower_price="100000", upper_price="110000", grid_count=10)
    bot_id = uuid.UUID((await create_bot(client, user, body))["id"])
    clock = Clock()
    ctx = runtime_context(settings, db, clock)

    async def run_then_stop() -> uuid.UUID:
        assert (await client.post(f"{BOTS}/{bot_id}/start", headers=user.headers)).is_success
        await tick_bot(ctx, bot_id)  # starting -> running: opens the account, places the grid
        clock.move(30)
        await tick_bot(ctx, bot_id)
        assert (await client.post(f"{BOTS}/{bot_id}/stop", headers=user.headers)).is_success
        for _ in range(5):
            await tick_bot(ctx, bot_id)
            if (await load_bot(db, bot_id)).status == "stopped":
                break
        assert (await load_bot(db, bot_id)).status == "stopped"
        return await paper_account_of(db, bot_id)

    try:
        first = await run_then_stop()
        changed = {"paper": paper_settings(candles[0].ts, "20000")}
        patched = await client.patch(f"{BOTS}/{bot_id}", json=changed, headers=user.headers)
        assert patched.status_code == 200, patched.text
        second = await run_then_stop()
    finally:
        await ctx.close()
    assert second != first
    both = [first, second]
    before = await rows_of(db, both)
    assert before["paper_accounts"] == 2 and before["paper_orders"] > 0  # the grids it placed

    body_before = (await client.get(URL, headers=user.headers)).json()
    # The current account alone: the one the old settings made holds money of before.
    assert [a["id"] for a in body_before["accounts"]] == [str(second)]
    assert body_before["accounts"][0]["bots"] == 1
    assert Decimal(body_before["value_usdt"]) == Decimal(20000)  # orders cancelled, no trade

    deleted = await client.delete(f"{BOTS}/{bot_id}", headers=user.headers)
    assert deleted.status_code == 204, deleted.text

    assert (await client.get(URL, headers=user.headers)).json()["accounts"] == []
    assert await rows_of(db, both) == dict.fromkeys(before, 0)


async def test_paper_settings_cannot_change_under_orders_a_stop_left_resting(
    client: httpx.AsyncClient, user: ApiUser, settings: Settings, db: Database
) -> None:
    # New settings open a new paper account: the orders resting on the old one would be out of
    # the bot's reach, never filled nor cancelled.
    candles = real_candles(CANDLES)
    await store_candles(db, candles)
    paper = paper_settings(candles[0].ts, "10000")
    body = grid_body(paper=paper)
    body["config"].update(lower_price="100000", upper_price="110000", grid_count=10)
    bot_id = uuid.UUID((await create_bot(client, user, body))["id"])
    ctx = runtime_context(settings, db, Clock())
    try:
        assert (await client.post(f"{BOTS}/{bot_id}/start", headers=user.headers)).is_success
        await tick_bot(ctx, bot_id)  # the grid placed
        kept = {"cancel_orders": False}
        stop = await client.post(f"{BOTS}/{bot_id}/stop", json=kept, headers=user.headers)
        assert stop.is_success, stop.text
        await tick_bot(ctx, bot_id)
    finally:
        await ctx.close()
    assert (await load_bot(db, bot_id)).status == "stopped"
    resting = sum(o.status not in TERMINAL_STATUSES for o in await orders_of(db, bot_id))
    assert resting > 0
    stored = (await load_bot(db, bot_id)).paper

    changed = {"paper": paper_settings(candles[0].ts, "20000")}
    refused = await client.patch(f"{BOTS}/{bot_id}", json=changed, headers=user.headers)
    assert_error_shape(refused, 409, "bot_status_conflict")
    assert f"{resting} open order(s)" in refused.json()["error"]["message"]
    assert (await load_bot(db, bot_id)).paper == stored  # nothing changed
    # The same settings, or another field, are no change of account: allowed.
    for allowed in ({"paper": paper}, {"name": "renamed"}):
        response = await client.patch(f"{BOTS}/{bot_id}", json=allowed, headers=user.headers)
        assert response.status_code == 200, response.text
