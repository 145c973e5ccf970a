"""Notification tests: a local webhook receiver, settings that let channels point at it, and
stored candles for the bots some tests create."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.bots.conftest import store_replay_candles
from tests.notifications.receiver import WebhookReceiver


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The receiver listens on loopback, which production refuses (SSRF); tests allow it.
    return settings.model_copy(update={"notifications_allow_private_targets": True})


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as running:
        yield running


@pytest.fixture
async def replay_candles(db: Database) -> None:
    await store_replay_candles(db)
