"""Updates arrive by webhook (checked against TELEGRAM_WEBHOOK_SECRET) or by polling (one
process at a time, by lease); beat polls only when there is a token and no webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.notifications.telegram import repository
from autogrid.notifications.telegram.polling import LEASE, poll_once
from autogrid.notifications.telegram.updates import NOT_LINKED
from autogrid.worker.celery_app import create_celery
from tests.notifications.telegram.conftest import RecordingDispatcher
from tests.telegram_sim import TelegramSimulator

WEBHOOK = "/api/v1/telegram/webhook"
SECRET = "hook-secret_123"
POLL_TASK = "autogrid.notifications.tasks.poll_telegram_updates"


def update(update_id: int, chat_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "u"},
            "text": text,
        },
    }


@pytest.fixture
async def hooked(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.state.settings = app.state.settings.model_copy(
        update={"telegram_webhook_secret": SecretStr(SECRET)}
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http


async def test_the_webhook_needs_the_secret_and_handles_an_update_once(
    hooked: httpx.AsyncClient, sim: TelegramSimulator
) -> None:
    body = update(9001, 77, "/status")
    assert (await hooked.post(WEBHOOK, json=body)).status_code == 401
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
    assert (await hooked.post(WEBHOOK, json=body, headers=wrong)).status_code == 401
    assert sim.sent == []

    right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert (await hooked.post(WEBHOOK, json=body, headers=right)).status_code == 204
    assert (await hooked.post(WEBHOOK, json=body, headers=right)).status_code == 204  # a retry
    assert sim.sent_to(77) == [NOT_LINKED]


async def test_without_a_webhook_secret_the_route_is_absent(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        WEBHOOK, json=update(1, 1, "/help"), headers={"X-Telegram-Bot-Api-Secret-Token": "x"}
    )
    assert answer.status_code == 404


async def test_one_poller_at_a_time_and_a_dead_ones_lease_ends(
    db: Database, settings: Settings, sim: TelegramSimulator
) -> None:
    now = utcnow()
    async with db.session_scope() as session:
        held = await repository.lease_poller(session, token="other", now=now, until=now + LEASE)
    assert held == 0
    await sim.user_sends(88, "/help")
    keyring = keyring_from_settings(settings)
    dispatcher = RecordingDispatcher()
    assert await poll_once(db, keyring, settings, dispatcher, now=now) is None
    assert sim.sent == []
    later = now + LEASE + timedelta(seconds=1)
    assert await poll_once(db, keyring, settings, dispatcher, now=later) == 1
    assert sim.sent_to(88) == [NOT_LINKED]


def test_beat_polls_only_with_a_token_and_no_webhook(settings: Settings) -> None:
    assert POLL_TASK in _scheduled(settings)
    hooked = settings.model_copy(update={"telegram_webhook_secret": SecretStr(SECRET)})
    assert POLL_TASK not in _scheduled(hooked)
    assert POLL_TASK not in _scheduled(settings.model_copy(update={"telegram_bot_token": None}))


def _scheduled(settings: Settings) -> set[str]:
    app = create_celery(settings)
    try:
        return {entry["task"] for entry in app.conf.beat_schedule.values()}
    finally:
        app.close()
