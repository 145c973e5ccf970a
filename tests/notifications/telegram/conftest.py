"""Telegram tests: the Bot API simulator, settings pointing the platform's bot at it, a linked
chat, and a dispatcher that records the bot commands it is handed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from autogrid.bots.dispatch import BotCommand
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.notifications.telegram.polling import poll_once
from tests.helpers import ApiUser
from tests.notifications.test_channels_api import CHANNELS
from tests.telegram_sim import TelegramSimulator


@dataclass
class RecordingDispatcher:
    commands: list[BotCommand] = field(default_factory=list)

    async def dispatch(self, command: BotCommand) -> None:
        self.commands.append(command)


@pytest.fixture
async def sim() -> AsyncIterator[TelegramSimulator]:
    async with TelegramSimulator() as running:
        yield running


@pytest.fixture
def settings(settings: Settings, sim: TelegramSimulator) -> Settings:
    return settings.model_copy(
        update={"telegram_bot_token": SecretStr(sim.token), "telegram_api_url": sim.api_url}
    )


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@dataclass
class Telegram:
    """The platform side of the bot, driven by a test: one polling pass at a time."""

    db: Database
    settings: Settings
    sim: TelegramSimulator
    dispatcher: RecordingDispatcher

    async def poll(self) -> int | None:
        keyring = keyring_from_settings(self.settings)
        return await poll_once(self.db, keyring, self.settings, self.dispatcher, now=utcnow())

    async def say(self, chat_id: int, text: str) -> list[str]:
        """The user writes; one pass handles it; what the bot sent to that chat meanwhile."""
        before = len(self.sim.sent_to(chat_id))
        await self.sim.user_sends(chat_id, text)
        await self.poll()
        return self.sim.sent_to(chat_id)[before:]


@pytest.fixture
def telegram(
    db: Database, settings: Settings, sim: TelegramSimulator, dispatcher: RecordingDispatcher
) -> Telegram:
    return Telegram(db, settings, sim, dispatcher)


async def create_telegram_channel(
    client: httpx.AsyncClient, user: ApiUser, **changes: Any
) -> dict[str, Any]:
    body = {"kind": "telegram", "label": f"tg {uuid.uuid4().hex[:6]}", **changes}
    response = await client.post(CHANNELS, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def linked_channel(
    client: httpx.AsyncClient, user: ApiUser, telegram: Telegram, chat_id: int, **changes: Any
) -> dict[str, Any]:
    channel = await create_telegram_channel(client, user, **changes)
    replies = await telegram.say(chat_id, f"/start {channel['link']['code']}")
    assert replies and replies[-1].startswith("Linked"), replies
    return channel
