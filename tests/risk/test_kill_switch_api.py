"""The global kill switch over the API: only admins touch it, engaging halts every running bot,
releasing leaves them halted until their owners reset them."""

from __future__ import annotations

import uuid

import httpx
import pytest

from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape
from tests.support.factories import load_bot, set_bot


@pytest.fixture(autouse=True)
async def _replay_candles(db: Database) -> None:
    await store_replay_candles(db)  # what the default bot body replays


async def test_the_kill_switch_halts_every_bot_and_only_admins_touch_it(
    client: httpx.AsyncClient, db: Database, user: ApiUser, admin_user: ApiUser
) -> None:
    running = uuid.UUID((await create_bot(client, user))["id"])
    stopped = uuid.UUID((await create_bot(client, user))["id"])
    await set_bot(db, running, status="running")

    forbidden = await client.post(
        "/api/v1/admin/kill-switch", json={"reason": "drill"}, headers=user.headers
    )
    assert_error_shape(forbidden, 403)
    engaged = await client.post(
        "/api/v1/admin/kill-switch", json={"reason": "drill"}, headers=admin_user.headers
    )
    assert engaged.status_code == 200, engaged.text
    assert engaged.json()["engaged"] is True and engaged.json()["halted_bots"] == 1

    assert (await load_bot(db, running)).status == "halted"
    assert (await load_bot(db, running)).breaker_reason == "kill switch: drill"
    assert (await load_bot(db, stopped)).status == "stopped"
    status = await client.get("/api/v1/admin/kill-switch", headers=admin_user.headers)
    assert status.json()["engaged"] is True and status.json()["reason"] == "drill"

    released = await client.post("/api/v1/admin/kill-switch/release", headers=admin_user.headers)
    assert released.json()["engaged"] is False
    again = await client.post("/api/v1/admin/kill-switch/release", headers=admin_user.headers)
    assert_error_shape(again, 409)
    # The owner resets the breaker to run again.
    reset = await client.post(f"/api/v1/bots/{running}/reset-breaker", headers=user.headers)
    assert reset.status_code == 200, reset.text
    assert (await load_bot(db, running)).status == "running"
