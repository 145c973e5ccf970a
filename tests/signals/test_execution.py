"""Carrying out accepted signals on their target bots (``signals.execution``, the worker's unit
of work), on the real database: pause and resume through the bots' status machine, a stopped
target is ``bot_not_running``, deal actions say they are not supported yet, and a signal
carried out twice acts once."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from autogrid.bots.dispatch import BotCommandKind
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.db import Database
from autogrid.models import Bot, Signal
from autogrid.signals import execution
from tests.bots.factories import BOTS, create_bot, set_status
from tests.helpers import ApiUser
from tests.signals.conftest import SIGNALS, events_of, make_source, post_signal


async def _post(client: httpx.AsyncClient, token: str, action: str) -> int:
    answer = await post_signal(client, token, {"action": action})
    assert answer.json()["outcome"] == "accepted", answer.text
    signal_id: int = answer.json()["id"]
    return signal_id


async def _execute(db: Database, signal_id: int) -> list[Any]:
    async with db.session_scope() as session:
        return await execution.execute(session, signal_id, conservative_market_rules)


async def _signal(client: httpx.AsyncClient, user: ApiUser, signal_id: int) -> dict[str, Any]:
    response = await client.get(f"{SIGNALS}/{signal_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    signal: dict[str, Any] = response.json()
    return signal


async def _status(db: Database, bot_id: str) -> str:
    async with db.session_scope() as session:
        bot = await session.get(Bot, uuid.UUID(bot_id))
        assert bot is not None
        return bot.status


async def test_pause_and_resume_go_through_the_status_machine_and_are_journalled(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")
    source = await make_source(client, user, [bot["id"]], dedup_window_seconds=0)

    paused = await _post(client, source["token"], "pause")
    commands = await _execute(db, paused)

    assert [(c.bot_id, c.kind) for c in commands] == [(uuid.UUID(bot["id"]), BotCommandKind.PAUSE)]
    assert await _status(db, bot["id"]) == "paused"
    stored = await _signal(client, user, paused)
    assert stored["outcome"] == "executed" and stored["executed_at"] is not None
    assert stored["results"] == [
        {"bot_id": bot["id"], "smart_trade_id": None, "outcome": "executed", "reason": None}
    ]

    resumed = await _post(client, source["token"], "resume")
    await _execute(db, resumed)
    assert await _status(db, bot["id"]) == "running"

    executed = await events_of(client, user, "signal_executed")
    assert [(e["bot_id"], e["data"]["action"]) for e in executed] == [
        (bot["id"], "pause"),
        (bot["id"], "resume"),
    ]
    kinds = (await client.get(f"{BOTS}/{bot['id']}/events", headers=user.headers)).json()
    assert {"paused", "resumed"} <= {e["type"] for e in kinds["items"]}


async def test_a_stopped_target_is_bot_not_running_and_the_others_still_act(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    running = await create_bot(client, user)
    stopped = await create_bot(client, user)
    await set_status(db, running["id"], "running")
    source = await make_source(client, user, [running["id"], stopped["id"]])

    signal_id = await _post(client, source["token"], "pause")
    await _execute(db, signal_id)

    stored = await _signal(client, user, signal_id)
    by_bot = {r["bot_id"]: r for r in stored["results"]}
    assert by_bot[running["id"]]["outcome"] == "executed"
    assert by_bot[stopped["id"]]["outcome"] == "bot_not_running"
    assert by_bot[stopped["id"]]["reason"] == "the bot is stopped"
    assert stored["outcome"] == "bot_not_running" and "1 of 2" in stored["reason"]
    assert await _status(db, running["id"]) == "paused"
    refused = await events_of(client, user, "signal_refused")
    assert [(e["bot_id"], e["data"]["outcome"]) for e in refused] == [
        (stopped["id"], "bot_not_running")
    ]


async def test_deal_actions_on_a_bot_that_runs_no_deals_are_refused_saying_why(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")
    source = await make_source(client, user, [bot["id"]])

    # 3Commas' own bot message for "close the open deal at market".
    signal_id = await _post(client, source["token"], "close_at_market_price")
    commands = await _execute(db, signal_id)

    assert commands == []
    stored = await _signal(client, user, signal_id)
    assert stored["outcome"] == "refused"
    assert "close_deal acts on a dca bot; this is a grid bot" in stored["results"][0]["reason"]
    assert await _status(db, bot["id"]) == "running"


async def test_a_status_the_action_cannot_apply_to_fails_with_the_reason(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "halted")
    source = await make_source(client, user, [bot["id"]])

    signal_id = await _post(client, source["token"], "resume")
    await _execute(db, signal_id)

    stored = await _signal(client, user, signal_id)
    assert stored["outcome"] == "failed"
    assert "cannot resume a bot that is halted" in stored["results"][0]["reason"]
    assert await _status(db, bot["id"]) == "halted"


async def test_a_signal_carried_out_twice_acts_once(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot = await create_bot(client, user)
    await set_status(db, bot["id"], "running")
    source = await make_source(client, user, [bot["id"]])
    signal_id = await _post(client, source["token"], "pause")

    first = await _execute(db, signal_id)
    second = await _execute(db, signal_id)

    assert len(first) == 1 and second == []
    assert len(await events_of(client, user, "signal_executed")) == 1
    async with db.session_scope() as session:
        row = await session.get(Signal, signal_id)
        assert row is not None and row.outcome == "executed"
