"""Through the API and a real worker: a running paper bot is paused and resumed by signals
posted to its source, each signal ending ``executed`` with its events, as its owner would see;
a signal whose message was lost is found and carried out by beat's sweep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.signals.dispatch import CelerySignalDispatcher, NoopSignalDispatcher
from tests.engine.test_end_to_end import api
from tests.engine.test_paper_replay import GRID
from tests.exchanges.paper.helpers import store_candles
from tests.helpers import ApiUser
from tests.signals.conftest import SIGNALS, events_of, make_source, post_signal
from tests.support.replay_checks import BOTS, candle_window, create_replay_bot, worker_stack
from tests.support.workers import Stack, eventually

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(settings: Settings, app: FastAPI, tmp_path: Path) -> AsyncIterator[Stack]:
    async with worker_stack(settings, app, tmp_path) as running:
        app.state.signal_dispatcher = CelerySignalDispatcher(lambda: running.app)
        yield running


async def running_bot(stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database) -> str:
    """A paper replay bot the worker runs (its replay lasts far longer than the test)."""
    candles = candle_window(0, 600)
    await store_candles(db, candles)
    bot_id = await create_replay_bot(
        client, user, "grid", GRID, candles, Decimal(20_000), name="signalled", speed=60
    )
    await api(client, user, "POST", f"{BOTS}/{bot_id}/start")
    await eventually(lambda: status_is(client, user, bot_id, "running"), stack)
    return bot_id


async def status_is(client: httpx.AsyncClient, user: ApiUser, bot_id: str, wanted: str) -> bool:
    return bool((await api(client, user, "GET", f"{BOTS}/{bot_id}"))["status"] == wanted)


async def test_signals_pause_and_resume_a_running_bot_through_the_worker(
    stack: Stack, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot_id = await running_bot(stack, client, user, db)
    source = await make_source(client, user, [bot_id])

    for action, status in (("pause", "paused"), ("resume", "running")):
        answer = await post_signal(client, source["token"], {"action": action})
        assert answer.status_code == 202 and answer.json()["outcome"] == "accepted"

        async def executed(signal_id: int = answer.json()["id"]) -> dict[str, Any] | None:
            signal = await api(client, user, "GET", f"{SIGNALS}/{signal_id}")
            return signal if signal["outcome"] != "accepted" else None

        signal = await eventually(executed, stack)
        assert signal["outcome"] == "executed", signal
        assert await status_is(client, user, bot_id, status)

    done = await events_of(client, user, "signal_executed")
    assert [(e["bot_id"], e["data"]["action"]) for e in done] == [
        (bot_id, "pause"),
        (bot_id, "resume"),
    ]
    kinds = [e["type"] for e in await events_of(client, user, "paused", "resumed")]
    assert kinds == ["paused", "resumed"]


async def test_a_signal_whose_message_was_lost_is_carried_out_by_the_sweep(
    stack: Stack, app: FastAPI, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    bot_id = await running_bot(stack, client, user, db)
    source = await make_source(client, user, [bot_id])
    # The API sends nothing: as if the broker lost the message after the commit.
    app.state.signal_dispatcher = NoopSignalDispatcher()

    answer = await post_signal(client, source["token"], {"action": "pause"})
    assert answer.json()["outcome"] == "accepted"

    async def executed() -> dict[str, Any] | None:
        signal = await api(client, user, "GET", f"{SIGNALS}/{answer.json()['id']}")
        return signal if signal["outcome"] != "accepted" else None

    signal = await eventually(executed, stack)
    assert signal["outcome"] == "executed", signal
    assert await status_is(client, user, bot_id, "paused")
