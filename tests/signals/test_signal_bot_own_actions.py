"""What a signal bot does on its own, answering no signal, is journalled for its owner: its
stop-loss selling the position is a ``strategy_action`` event, written with the decision."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.signals.conftest import events_of, make_source
from tests.signals.test_signal_bot import send, signal, signal_bot
from tests.support.factories import orders_of


async def test_a_stop_loss_sale_is_journalled_as_a_strategy_action(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    price = sim.price("BTC/USDT")
    stop = (price * Decimal("0.95")).quantize(Decimal(1))
    buy = {"action": "buy", "ticker": "BTCUSDT", "quantity": "0.01", "stop_loss": str(stop)}
    signal_id = await send(client, db, settings, source["token"], buy)
    await tick_bot(ctx, uuid.UUID(bot_id))
    await tick_bot(ctx, uuid.UUID(bot_id))  # the buy's fill reaches the strategy
    assert (await signal(client, user, signal_id))["outcome"] == "executed"
    assert await events_of(client, user, "strategy_action") == []

    sim.set_price("BTC/USDT", stop - 100)
    await tick_bot(ctx, uuid.UUID(bot_id))

    sides = sorted(o.side for o in await orders_of(db, uuid.UUID(bot_id)))
    assert sides == ["buy", "sell"]
    (event,) = await events_of(client, user, "strategy_action")
    assert event["bot_id"] == bot_id
    assert event["data"]["action"] == "stop_loss" and event["data"]["done"] is True
    assert event["data"]["reason"].endswith("at market"), event
    assert event["message"].startswith("stop_loss: sell "), event
    assert len(await events_of(client, user, "signal_executed")) == 1  # the buy's, only
