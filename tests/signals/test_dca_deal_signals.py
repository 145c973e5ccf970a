"""DCA deals by signal, through the API and the worker's code paths, in paper and live against
the exchange simulator: ``start_deal`` while a deal is open is refused with the reason,
``close_deal`` cancels the deal's safety and take-profit orders and sells its position at
market, and ``start_deal`` then opens the next deal at once, its cooldown notwithstanding."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.models import Order
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from tests.engine.test_end_to_end import api, live_credential
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.signals.conftest import make_source
from tests.signals.test_signal_bot import BOTS, PAPER_LIVE, queued_rows, send, signal
from tests.support.contexts import simulator_factory
from tests.support.factories import orders_of

DCA: dict[str, Any] = {
    "base_order_volume": "100",
    "safety_order_volume": "100",
    "safety_order_step_percentage": "1",
    "max_safety_orders": 2,
    "active_safety_orders_count": 2,
    "take_profit": "2",
    "cooldown_seconds": 86_400,  # a deal closed waits a day: only a signal opens the next
}


async def dca_bot(
    app: FastAPI,
    client: httpx.AsyncClient,
    user: ApiUser,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
    mode: str,
) -> uuid.UUID:
    body: dict[str, Any] = {
        "type": "dca",
        "name": "deals",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "config": DCA,
    }
    if mode == "live":
        app.state.connector_factory = simulator_factory(sim.url)
        body |= {"mode": "live", "credential_id": await live_credential(client, user)}
    else:
        body |= {"mode": "paper", "paper": PAPER_LIVE}
    bot = await api(client, user, "POST", BOTS, body)
    await api(client, user, "POST", f"{BOTS}/{bot['id']}/start")
    bot_id = uuid.UUID(bot["id"])
    for _ in range(3):  # running, its base order sent and filled, safety orders and take profit
        await tick_bot(ctx, bot_id)
    return bot_id


def open_tags(rows: list[Order]) -> list[str]:
    return sorted(str(tag_of(o)) for o in rows if o.status == "open")


@pytest.mark.parametrize("mode", ["paper", "live"])
async def test_deals_start_and_close_on_signals(
    mode: str,
    app: FastAPI,
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await dca_bot(app, client, user, ctx, sim, mode)
    assert open_tags(await orders_of(db, bot_id)) == ["D1.SO1", "D1.SO2", "D1.TP1"]
    source = await make_source(client, user, [str(bot_id)])
    post = {"message_type": "bot", "bot_id": 1, "email_token": "t", "pair": "USDT_BTC"}

    again = await send(client, db, settings, source["token"], post)  # 3Commas' start_deal
    await tick_bot(ctx, bot_id)
    refused = await signal(client, user, again)
    assert refused["outcome"] == "refused", refused
    assert refused["results"][0]["reason"] == "deal 1 is open (in_deal)"

    close = {**post, "action": "close_at_market_price"}
    closed_id = await send(client, db, settings, source["token"], close)
    for _ in range(3):  # the cancels and the exit sent, the exit filled, the deal closed
        await tick_bot(ctx, bot_id)
    closed = await signal(client, user, closed_id)
    assert closed["outcome"] == "executed", closed
    rows = await orders_of(db, bot_id)
    assert open_tags(rows) == []
    assert {tag_of(o): o.status for o in rows if str(tag_of(o)).startswith("D1.")} == {
        "D1.BO": "filled",
        "D1.SO1": "canceled",
        "D1.SO2": "canceled",
        "D1.TP1": "canceled",
        "D1.EXIT": "filled",
    }
    deals = await api(client, user, "GET", f"{BOTS}/{bot_id}/deals")
    assert [(d["number"], d["close_reason"]) for d in deals["items"] if d["closed_at"]] == [
        (1, "signal")
    ]

    reopened = await send(client, db, settings, source["token"], {**post, "email_token": "u"})
    for _ in range(2):
        await tick_bot(ctx, bot_id)
    assert (await signal(client, user, reopened))["outcome"] == "executed"
    assert "D2.BO" in {tag_of(o) for o in await orders_of(db, bot_id)}
    assert [consumed for _, consumed in await queued_rows(db)] == [True, True, True]
