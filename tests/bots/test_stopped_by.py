"""Who stopped a bot: its owner (the API's stop) or the bot itself (its strategy or the replay's
end asked, an error, the breaker). The bot shows it (``stopped_by``), and both the bots list and
the events list filter on it, so an owner finds at once what stopped without being asked."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from autogrid.bots.service import mark_error, mark_halted, mark_running, mark_stopped
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine.guard import request_stop
from autogrid.models import Bot
from tests.helpers import ApiUser
from tests.support.factories import make_bot

BOTS, EVENTS = "/api/v1/bots", "/api/v1/events"


async def as_runtime(db: Database, bot_id: uuid.UUID, report: Any, *args: Any) -> None:
    """What the worker does: the bot's row in hand, in its own transaction."""
    async with db.session_scope() as session:
        bot = await session.get(Bot, bot_id, with_for_update=True)
        assert bot is not None
        await report(session, bot, *args)


async def listed(client: httpx.AsyncClient, user: ApiUser, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_bots_that_stopped_by_themselves_are_told_apart_from_those_stopped_by_owner(
    client: httpx.AsyncClient, db: Database, user: ApiUser, other_user: ApiUser
) -> None:
    by_owner, by_strategy, failed, tripped, running = [
        await make_bot(db, user.id, status="running") for _ in range(5)
    ]
    theirs = await make_bot(db, other_user.id, status="running")

    stopped = await client.post(f"{BOTS}/{by_owner}/stop", json={}, headers=user.headers)
    assert stopped.status_code in (200, 202), stopped.text
    await as_runtime(db, by_owner, mark_stopped)

    async def strategy_stops(session: Any, bot: Bot) -> None:
        await request_stop(
            session, bot, cancel_orders=True, sell_base=False, reason="take_profit", now=utcnow()
        )

    await as_runtime(db, by_strategy, strategy_stops)
    await as_runtime(db, by_strategy, mark_stopped)
    await as_runtime(db, failed, mark_error, "the exchange refused the API key")
    await as_runtime(db, tripped, mark_halted, "5 consecutive exchange errors")
    await as_runtime(db, theirs, mark_error, "not yours")

    by_itself = await listed(client, user, BOTS, stopped_by="bot")
    assert {item["id"] for item in by_itself["items"]} == {
        str(by_strategy),
        str(failed),
        str(tripped),
    }
    assert {item["stopped_by"] for item in by_itself["items"]} == {"bot"}
    owners = await listed(client, user, BOTS, stopped_by="owner")
    assert [item["id"] for item in owners["items"]] == [str(by_owner)]
    everything = {
        item["id"]: item["stopped_by"] for item in (await listed(client, user, BOTS))["items"]
    }
    assert everything[str(running)] is None

    events = (await listed(client, user, EVENTS, stopped_by="bot", limit=200))["items"]
    assert {(event["bot_id"], event["type"]) for event in events} == {
        (str(by_strategy), "stop_requested"),
        (str(by_strategy), "stopped"),
        (str(failed), "error"),
        (str(tripped), "breaker_tripped"),
    }
    stop = next(e for e in events if e["type"] == "stopped")
    assert stop["data"]["initiator"] == "bot" and stop["data"]["reason"] == "take_profit"
    asked = (await listed(client, user, EVENTS, stopped_by="owner"))["items"]
    assert {(event["bot_id"], event["type"]) for event in asked} == {
        (str(by_owner), "stop_requested"),
        (str(by_owner), "stopped"),
    }
    bad = await client.get(EVENTS, params={"stopped_by": "someone"}, headers=user.headers)
    assert bad.status_code == 422


async def test_running_again_clears_who_stopped_it(
    client: httpx.AsyncClient, db: Database, user: ApiUser
) -> None:
    bot_id = await make_bot(db, user.id, status="starting")
    await as_runtime(db, bot_id, mark_running)
    await as_runtime(db, bot_id, mark_error, "boom")
    assert (await listed(client, user, f"{BOTS}/{bot_id}"))["stopped_by"] == "bot"
    async with db.session_scope() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None
        bot.status = "starting"  # as a restart after the owner fixed the key
    await as_runtime(db, bot_id, mark_running)
    assert (await listed(client, user, f"{BOTS}/{bot_id}"))["stopped_by"] is None
    assert (await listed(client, user, BOTS, stopped_by="bot"))["total"] == 0
