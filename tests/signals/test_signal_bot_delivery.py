"""Delivering signals to a running signal bot exactly once: a decision rolled back leaves its
signals queued and the next step acts on them once; a task delivered twice queues once; a
signal that waited past its max_lag (its bot paused) is stale and does nothing; a bot that
stops drops what it had queued."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine import signal_queue
from autogrid.engine.context import RuntimeContext
from autogrid.models import AccountLimit
from autogrid.scheduling.ticking import tick_bot
from autogrid.signals import deliveries, interpretation
from tests.engine.test_end_to_end import api
from tests.exchange_sim import BinanceSimulator
from tests.helpers import ApiUser
from tests.signals.conftest import events_of, make_source, post_signal
from tests.signals.test_signal_bot import BOTS, queued_rows, send, signal, signal_bot
from tests.support.factories import Clock, orders_of

BUY = {"action": "buy", "ticker": "BTCUSDT", "quantity": "0.01"}


class Crash(Exception):
    """The process dies between the decision's writes and its commit."""


async def test_a_decision_rolled_back_leaves_its_signal_queued_and_the_retry_acts_once(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    signal_id = await send(client, db, settings, source["token"], BUY)
    written = deliveries.write_results

    async def crash(session: AsyncSession, *args: Any) -> None:
        await written(session, *args)  # every write of the decision is made, then the crash
        raise Crash

    monkeypatch.setattr(deliveries, "write_results", crash)
    with pytest.raises(Crash):
        await tick_bot(ctx, uuid.UUID(bot_id))

    assert await orders_of(db, uuid.UUID(bot_id)) == []
    assert (await signal(client, user, signal_id))["outcome"] == "queued"
    assert await queued_rows(db) == [(signal_id, False)]

    monkeypatch.setattr(deliveries, "write_results", written)
    await interpretation.carry_out(
        db, settings, signal_id, conservative_market_rules
    )  # the task delivered again
    await tick_bot(ctx, uuid.UUID(bot_id))
    await tick_bot(ctx, uuid.UUID(bot_id))
    await tick_bot(ctx, uuid.UUID(bot_id))

    (order,) = await orders_of(db, uuid.UUID(bot_id))
    assert (order.side, order.status) == ("buy", "filled")
    assert sum(sim.create_request_counts().values()) == 0  # paper: the simulator only quoted
    assert (await signal(client, user, signal_id))["outcome"] == "executed"
    assert await queued_rows(db) == [(signal_id, True)]
    assert len(await events_of(client, user, "signal_executed")) == 1


async def test_a_signal_consumed_already_drops_the_whole_decision(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    signal_id = await send(client, db, settings, source["token"], BUY)
    claim = signal_queue.claim

    async def consumed_meanwhile(session: AsyncSession, *args: Any) -> bool:
        async with db.session_scope() as other:  # as if another holder had committed it
            waiting = await deliveries.queued_for(other, uuid.UUID(bot_id))
            await deliveries.consume(
                other, [item.delivery_id for item in waiting], datetime.now(UTC)
            )
        return await claim(session, *args)

    monkeypatch.setattr(signal_queue, "claim", consumed_meanwhile)
    await tick_bot(ctx, uuid.UUID(bot_id))

    assert await orders_of(db, uuid.UUID(bot_id)) == []
    assert (await signal(client, user, signal_id))["outcome"] == "queued"


async def test_a_dropped_decision_leaves_the_other_signals_it_held_queued(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    await send(client, db, settings, source["token"], BUY)
    second = await send(client, db, settings, source["token"], {**BUY, "quantity": "0.02"})
    claim = signal_queue.claim

    async def first_consumed_meanwhile(session: AsyncSession, *args: Any) -> bool:
        async with db.session_scope() as other:  # another holder acted on the first only
            waiting = await deliveries.queued_for(other, uuid.UUID(bot_id))
            await deliveries.consume(other, [waiting[0].delivery_id], datetime.now(UTC))
        return await claim(session, *args)

    monkeypatch.setattr(signal_queue, "claim", first_consumed_meanwhile)
    await tick_bot(ctx, uuid.UUID(bot_id))

    async with db.session_scope() as session:
        still = await deliveries.queued_for(session, uuid.UUID(bot_id))
    assert [item.signal_id for item in still] == [second]  # not marked consumed by the drop
    assert (await signal(client, user, second))["outcome"] == "queued"


async def test_a_signal_queued_while_its_bot_was_paused_is_stale_past_its_max_lag(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    clock: Clock,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    sent = datetime.now(UTC).isoformat()
    signal_id = await send(
        client, db, settings, source["token"], {**BUY, "time": sent, "max_lag": 60}
    )
    await api(client, user, "POST", f"{BOTS}/{bot_id}/pause")
    await tick_bot(ctx, uuid.UUID(bot_id))
    assert (await signal(client, user, signal_id))["outcome"] == "queued"  # kept while paused

    await api(client, user, "POST", f"{BOTS}/{bot_id}/resume")
    clock.move(3600)  # resumed an hour later
    await tick_bot(ctx, uuid.UUID(bot_id))

    stale = await signal(client, user, signal_id)
    assert stale["outcome"] == "stale", stale
    assert "more than its max_lag of 60 s" in stale["results"][0]["reason"]
    assert await orders_of(db, uuid.UUID(bot_id)) == []
    assert await queued_rows(db) == [(signal_id, True)]


async def test_a_paused_bot_refuses_new_trading_signals_and_a_stop_drops_its_queue(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    source = await make_source(client, user, [bot_id])
    queued = await send(client, db, settings, source["token"], BUY)
    await api(client, user, "POST", f"{BOTS}/{bot_id}/pause")

    answer = await post_signal(client, source["token"], {"action": "sell", "ticker": "BTCUSDT"})
    await interpretation.carry_out(
        db, settings, int(answer.json()["id"]), conservative_market_rules
    )
    refused = await signal(client, user, int(answer.json()["id"]))
    assert (refused["outcome"], refused["results"][0]["reason"]) == (
        "bot_not_running",
        "the bot is paused",
    )

    await api(client, user, "POST", f"{BOTS}/{bot_id}/stop", {})
    await tick_bot(ctx, uuid.UUID(bot_id))

    dropped = await signal(client, user, queued)
    assert dropped["outcome"] == "bot_not_running", dropped
    assert "stopped before acting on it" in dropped["results"][0]["reason"]
    assert await queued_rows(db) == [(queued, True)]
    assert await orders_of(db, uuid.UUID(bot_id)) == []


async def test_a_buy_the_account_limits_refuse_is_refused_by_risk_with_the_reason(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    bot_id = await signal_bot(client, user, ctx)
    async with db.session_scope() as session:
        session.add(AccountLimit(user_id=user.id, updated_at=utcnow(), max_trades_per_day=0))
    source = await make_source(client, user, [bot_id])
    signal_id = await send(client, db, settings, source["token"], BUY)

    await tick_bot(ctx, uuid.UUID(bot_id))

    refused = await signal(client, user, signal_id)
    assert refused["outcome"] == "refused_by_risk", refused
    assert "trades" in refused["results"][0]["reason"]
    assert await orders_of(db, uuid.UUID(bot_id)) == []
    (event,) = await events_of(client, user, "signal_refused")
    assert event["data"]["outcome"] == "refused_by_risk"


async def test_a_signal_whose_decision_halts_the_bot_is_refused_by_risk_with_the_halt_reason(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    ctx: RuntimeContext,
    sim: BinanceSimulator,
) -> None:
    # One order a minute: the second buy of the decision trips the breaker, and the bot halts
    # before the first buy's order is sent (it is denied with the rest).
    bot_id = await signal_bot(client, user, ctx, breaker={"max_orders_per_minute": 1})
    source = await make_source(client, user, [bot_id])
    first = await send(client, db, settings, source["token"], BUY)
    second = await send(client, db, settings, source["token"], {**BUY, "quantity": "0.02"})

    await tick_bot(ctx, uuid.UUID(bot_id))

    assert (await api(client, user, "GET", f"{BOTS}/{bot_id}"))["status"] == "halted"
    assert {o.status for o in await orders_of(db, uuid.UUID(bot_id))} == {"denied"}
    halted = await signal(client, user, first)
    assert halted["outcome"] == "refused_by_risk", halted
    reason = halted["results"][0]["reason"]
    assert reason.startswith("the bot halted before its orders were sent: order rate"), reason
    assert (await signal(client, user, second))["outcome"] == "refused_by_risk"  # denied itself
    assert await events_of(client, user, "signal_executed") == []
    assert len(await events_of(client, user, "signal_refused")) == 2
