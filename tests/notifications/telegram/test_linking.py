"""Linking a chat: a one-time deep link, stored hashed, valid once and briefly; the chat id is
stored encrypted and shown masked; an unlinked chat only ever gets instructions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import NotificationChannel
from autogrid.notifications.telegram.linking import code_hash
from autogrid.notifications.telegram.updates import INVALID_CODE, NOT_LINKED
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.notifications.telegram.conftest import Telegram, create_telegram_channel
from tests.notifications.test_channels_api import CHANNELS
from tests.telegram_sim.server import BOT_USERNAME

CHAT = 4_242_001


async def stored(db: Database, channel_id: str) -> NotificationChannel:
    async with db.session_scope() as session:
        channel = await session.scalar(
            select(NotificationChannel).where(NotificationChannel.id == uuid.UUID(channel_id))
        )
        assert channel is not None
        return channel


async def test_a_chat_is_linked_by_its_one_time_code_and_masked(
    client: httpx.AsyncClient, user: ApiUser, db: Database, telegram: Telegram
) -> None:
    channel = await create_telegram_channel(client, user, label="phone")
    link = channel["link"]
    assert link["url"] == f"https://t.me/{BOT_USERNAME}?start={link['code']}"
    assert (channel["kind"], channel["state"]) == ("telegram", "pending")
    row = await stored(db, channel["id"])
    assert row.link_code_hash == code_hash(link["code"]) and link["code"] not in str(
        row.link_code_hash
    )

    replies = await telegram.say(CHAT, f"/start {link['code']}")
    assert replies == [
        "Linked: this chat now receives the events of channel 'phone'. /help lists commands."
    ]

    shown = (await client.get(f"{CHANNELS}/{channel['id']}", headers=user.headers)).json()
    assert (shown["state"], shown["target_masked"]) == ("active", "telegram chat …01")
    assert str(CHAT) not in str(shown)
    row = await stored(db, channel["id"])
    assert str(CHAT).encode() not in row.config_ciphertext and row.link_code_hash is None

    test = (await client.post(f"{CHANNELS}/{channel['id']}/test", headers=user.headers)).json()
    assert test["ok"] is True
    assert telegram.sim.sent_to(CHAT)[-1] == "AutoGrid test message: this chat is linked."


async def test_a_used_or_expired_code_is_refused(
    client: httpx.AsyncClient, user: ApiUser, db: Database, telegram: Telegram
) -> None:
    channel = await create_telegram_channel(client, user)
    code = channel["link"]["code"]
    await telegram.say(CHAT, f"/start {code}")
    assert await telegram.say(CHAT + 1, f"/start {code}") == [INVALID_CODE]  # used
    assert await telegram.say(CHAT + 1, "/status") == [NOT_LINKED]

    other = await create_telegram_channel(client, user)
    async with db.session_scope() as session:
        await session.execute(
            update(NotificationChannel)
            .where(NotificationChannel.id == uuid.UUID(other["id"]))
            .values(link_expires_at=utcnow() - timedelta(seconds=1))
        )
    assert await telegram.say(CHAT + 2, f"/start {other['link']['code']}") == [INVALID_CODE]
    assert (await stored(db, other["id"])).state == "pending"

    # A fresh link works, and the old code never comes back.
    renewed = await client.post(f"{CHANNELS}/{other['id']}/telegram-link", headers=user.headers)
    assert renewed.status_code == 200
    assert await telegram.say(CHAT + 2, f"/start {other['link']['code']}") == [INVALID_CODE]
    replies = await telegram.say(CHAT + 2, f"/start {renewed.json()['code']}")
    assert replies[0].startswith("Linked")


@pytest.mark.usefixtures("replay_candles")
async def test_an_unlinked_chat_gets_instructions_and_no_data(
    client: httpx.AsyncClient, user: ApiUser, telegram: Telegram
) -> None:
    await create_bot(client, user)
    for text in ("/status", "/bots", "/profit 7", "/balance", "/stop x", "/start", "hello"):
        assert await telegram.say(CHAT, text) == [NOT_LINKED], text


async def test_a_pending_channel_cannot_be_switched_on_and_receives_nothing(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    channel = await create_telegram_channel(client, user)
    answer = await client.patch(
        f"{CHANNELS}/{channel['id']}", json={"enabled": True}, headers=user.headers
    )
    assert answer.status_code == 409
    test = await client.post(f"{CHANNELS}/{channel['id']}/test", headers=user.headers)
    assert test.status_code == 409


async def test_without_a_token_telegram_channels_are_refused(
    client: httpx.AsyncClient, user: ApiUser, app: object
) -> None:
    settings = app.state.settings  # type: ignore[attr-defined]
    app.state.settings = settings.model_copy(update={"telegram_bot_token": None})  # type: ignore[attr-defined]
    try:
        answer = await client.post(
            CHANNELS, json={"kind": "telegram", "label": "x"}, headers=user.headers
        )
    finally:
        app.state.settings = settings  # type: ignore[attr-defined]
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "telegram_not_configured"
