"""A signal bot through the API and the worker's own code paths: a source targets the bot, a
TradingView-style buy and then a close_all are posted; the signal's task queues each for the bot
(``interpretation.carry_out``, what ``execute_signal`` runs), the bot's tick (``tick_bot``) acts
on it under its lease, and the orders, fills and outcomes follow, in paper and live against the
exchange simulator."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.models import SignalDelivery
from autogrid.scheduling.ticking import tick_bot
from autogrid.signals import interpretation
from tests.engine.test_end_to_end import api, live_credential
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.signals.conftest import SIGNALS, events_of, make_source, post_signal
from tests.support.contexts import simulator_factory
from tests.support.factories import fills_of, orders_of

D = Decimal
BOTS = "/api/v1/bots"
PAPER_LIVE: dict[str, Any] = {
    "price_source": "live",
    "timeframe": "1m",
    "balances": {"USDT": "10000"},
}


async def signal_bot(
    client: httpx.AsyncClient, user: ApiUser, ctx: RuntimeContext, **fields: Any
) -> str:
    """A signal bot made and started through the API, running after its first tick."""
    body = {
        "type": "signal",
        "name": "signalled",
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "mode": "paper",
        "paper": PAPER_LIVE,
        "config": {"default_quote": "500"},
        **fields,
    }
    bot = await api(client, user, "POST", BOTS, body)
    assert bot["type"] == "signal" and bot["config"]["default_quote"] == "500"
    await api(client, user, "POST", f"{BOTS}/{bot['id']}/start")
    await tick_bot(ctx, uuid.UUID(bot["id"]))
    assert (await api(client, user, "GET", f"{BOTS}/{bot['id']}"))["status"] == "running"
    return str(bot["id"])


async def send(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    token: str,
    body: dict[str, Any],
) -> int:
    """Post the signal and run its task as the worker does; its id."""
    answer = await post_signal(client, token, body)
    assert answer.status_code == 202 and answer.json()["outcome"] == "accepted", answer.text
    signal_id = int(answer.json()["id"])
    await interpretation.carry_out(db, settings, signal_id, conservative_market_rules)
    return signal_id


async def signal(client: httpx.AsyncClient, user: ApiUser, signal_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await api(client, user, "GET", f"{SIGNALS}/{signal_id}")
    return found


async def queued_rows(db: Database) -> list[tuple[int, bool]]:
    async with db.session_scope() as session:
        rows = await session.execute(
            select(SignalDelivery.signal_id, SignalDelivery.consumed_at.is_not(None)).order_by(
                SignalDelivery.id
            )
        )
        return [(signal_id, bool(consumed)) for signal_id, consumed in rows.all()]


async def buy_then_close_all(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    bot_id: str,
) -> None:
    source = await make_source(client, user, [bot_id])
    buy = {"action": "buy", "ticker": "BTCUSDT", "quantity": "0.01", "id": "long-1"}
    buy_id = await send(client, db, settings, source["token"], buy)

    queued = await signal(client, user, buy_id)
    assert queued["outcome"] == "queued"
    assert queued["results"] == [
        {"bot_id": bot_id, "smart_trade_id": None, "outcome": "queued", "reason": None}
    ]
    assert await orders_of(db, uuid.UUID(bot_id)) == []  # the worker placed nothing itself

    await tick_bot(ctx, uuid.UUID(bot_id))
    await tick_bot(ctx, uuid.UUID(bot_id))  # the market buy's fill reaches the strategy

    done = await signal(client, user, buy_id)
    assert done["outcome"] == "executed", done
    assert done["results"][0]["outcome"] == "executed"
    (bought,) = await orders_of(db, uuid.UUID(bot_id))
    assert (bought.side, bought.type, bought.amount, bought.status) == (
        "buy",
        "market",
        D("0.01"),
        "filled",
    )

    close_id = await send(
        client, db, settings, source["token"], {"action": "close", "ticker": "BTCUSDT"}
    )
    await tick_bot(ctx, uuid.UUID(bot_id))
    await tick_bot(ctx, uuid.UUID(bot_id))

    closed = await signal(client, user, close_id)
    assert closed["outcome"] == "executed", closed
    orders = sorted(await orders_of(db, uuid.UUID(bot_id)), key=lambda o: o.side)
    assert [(o.side, o.type, o.status) for o in orders] == [
        ("buy", "market", "filled"),
        ("sell", "market", "filled"),
    ]
    # The fee came off the base bought: the sale is what was held, to the market's step.
    assert D("0.0099") <= orders[1].amount <= D("0.01")
    assert len(await fills_of(db, uuid.UUID(bot_id))) == 2
    assert await queued_rows(db) == [(buy_id, True), (close_id, True)]

    done_events = await events_of(client, user, "signal_executed")
    assert [(e["bot_id"], e["data"]["action"]) for e in done_events] == [
        (bot_id, "buy"),
        (bot_id, "close_all"),
    ]


async def test_a_paper_signal_bot_buys_and_closes_on_posted_signals(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    await buy_then_close_all(client, user, db, settings, ctx, bot_id)


async def test_a_live_signal_bot_buys_and_closes_on_the_exchange(
    app: FastAPI,
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    app.state.connector_factory = simulator_factory(sim.url)
    credential = await live_credential(client, user)
    bot_id = await signal_bot(client, user, ctx, mode="live", paper=None, credential_id=credential)
    before = sum(sim.create_request_counts().values())

    await buy_then_close_all(client, user, db, settings, ctx, bot_id)

    assert sum(sim.create_request_counts().values()) - before == 2
    assert [o.side for o in sim.orders(status="FILLED")][-2:] == ["BUY", "SELL"]


async def test_a_buy_below_the_minimums_is_refused_with_the_reason(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    tiny = {"action": "buy", "ticker": "BTCUSDT", "quantity": "0.00001"}
    signal_id = await send(client, db, settings, source["token"], tiny)

    await tick_bot(ctx, uuid.UUID(bot_id))

    refused = await signal(client, user, signal_id)
    assert refused["outcome"] == "refused", refused
    assert "below the market minimum" in refused["results"][0]["reason"]
    assert await orders_of(db, uuid.UUID(bot_id)) == []
    (event,) = await events_of(client, user, "signal_refused")
    assert event["bot_id"] == bot_id and "below the market minimum" in event["data"]["reason"]


async def test_trading_signals_for_other_bots_and_stopped_bots_say_why(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    stopped = await api(
        client,
        user,
        "POST",
        BOTS,
        {
            "type": "signal",
            "name": "idle",
            "exchange": "binance",
            "symbol": "BTC/USDT",
            "paper": PAPER_LIVE,
        },
    )
    source = await make_source(client, user, None)  # a grid bot of the user
    grid_only = await send(client, db, settings, source["token"], {"action": "buy"})
    answer = await signal(client, user, grid_only)
    assert answer["outcome"] == "refused"
    assert "acts on a signal bot; this is a grid bot" in answer["reason"]

    to_stopped = await make_source(client, user, [stopped["id"]], name="second")
    idle = await send(client, db, settings, to_stopped["token"], {"action": "sell"})
    assert (await signal(client, user, idle))["outcome"] == "bot_not_running"
    assert await queued_rows(db) == []
