"""Events reach a linked chat through the outbox: a fill once, a burst as one grouped message,
a 429 postponed by its retry_after (never dropped, never counted as a failure), and a sender
killed after Telegram took the message sends it again once its lease ends (at least once: the
one window documented in docs/notifications.md)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.models import NotificationOutbox
from autogrid.notifications import delivery
from autogrid.notifications.delivery import deliver_due
from tests.bots.factories import create_bot, grid_body
from tests.helpers import ApiUser
from tests.notifications.telegram.conftest import Telegram, linked_channel
from tests.notifications.test_channels_api import CHANNELS
from tests.notifications.test_delivery import journal
from tests.telegram_sim import TelegramSimulator

pytestmark = pytest.mark.usefixtures("replay_candles")
CHAT = 5005
FILLS = {"event_types": ["fill", "error"]}


async def rows(db: Database, channel_id: str) -> list[NotificationOutbox]:
    async with db.session_scope() as session:
        found = await session.scalars(
            select(NotificationOutbox)
            .where(NotificationOutbox.channel_id == uuid.UUID(channel_id))
            .order_by(NotificationOutbox.id)
        )
        return list(found)


async def setup(
    client: httpx.AsyncClient, user: ApiUser, telegram: Telegram
) -> tuple[dict[str, Any], dict[str, Any]]:
    bot = await create_bot(client, user, grid_body(name="alpha"))
    channel = await linked_channel(client, user, telegram, CHAT, subscription=FILLS)
    return bot, channel


async def test_a_fill_reaches_the_chat_once_and_is_logged(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    sim: TelegramSimulator,
    telegram: Telegram,
) -> None:
    bot, channel = await setup(client, user, telegram)
    before = len(sim.sent_to(CHAT))
    fill = await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)

    assert await deliver_due(db, keyring, settings, now=utcnow()) == 1
    assert await deliver_due(db, keyring, settings, now=utcnow() + timedelta(hours=2)) == 0
    assert sim.sent_to(CHAT)[before:] == ["• [bot alpha] fill happened"]
    [row] = await rows(db, channel["id"])
    assert (row.status, row.attempts) == ("delivered", 1)
    log = (await client.get(f"{CHANNELS}/{channel['id']}/deliveries", headers=user.headers)).json()
    assert [(d["event_id"], d["ok"]) for d in log["items"]] == [(fill, True)]


async def test_a_burst_to_one_chat_is_one_grouped_message(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    sim: TelegramSimulator,
    telegram: Telegram,
) -> None:
    bot, channel = await setup(client, user, telegram)
    before = len(sim.sent_to(CHAT))
    for _ in range(12):
        await journal(db, bot["id"])
    assert await deliver_due(db, keyring_from_settings(settings), settings, now=utcnow()) == 12
    [message] = sim.sent_to(CHAT)[before:]
    assert message.splitlines() == [
        "• 12 fills on bot alpha:",
        "   fill happened",
        "   fill happened",
        "   fill happened",
        "   … and 9 more",
    ]
    assert {row.status for row in await rows(db, channel["id"])} == {"delivered"}


async def test_flood_control_delays_and_never_drops(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    sim: TelegramSimulator,
    telegram: Telegram,
) -> None:
    bot, channel = await setup(client, user, telegram)
    before = len(sim.sent_to(CHAT))
    await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)
    policy = delivery.DeliveryPolicy(max_attempts=1, disable_after=1)  # a failure would show
    sim.rate_limit(times=3, retry_after=30, chat_id=CHAT)
    start = utcnow()

    for attempt in range(3):
        now = start + timedelta(seconds=30 * attempt)
        assert await deliver_due(db, keyring, settings, now=now, policy=policy) == 0
        [row] = await rows(db, channel["id"])
        assert (row.status, row.attempts) == ("pending", 0)
        assert row.next_attempt_at == now + timedelta(seconds=30)
        # Not before the time Telegram asked for.
        await deliver_due(db, keyring, settings, now=now + timedelta(seconds=29), policy=policy)
    assert len(sim.refused) == 3

    assert await deliver_due(db, keyring, settings, now=start + timedelta(seconds=90)) == 1
    assert sim.sent_to(CHAT)[before:] == ["• [bot alpha] fill happened"]
    shown = (await client.get(f"{CHANNELS}/{channel['id']}", headers=user.headers)).json()
    assert (shown["state"], shown["consecutive_failures"]) == ("active", 0)
    log = (await client.get(f"{CHANNELS}/{channel['id']}/deliveries", headers=user.headers)).json()
    assert [d["status_code"] for d in reversed(log["items"])] == [429, 429, 429, 200]


async def test_a_sender_killed_after_sending_sends_again_after_its_lease(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    sim: TelegramSimulator,
    telegram: Telegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Telegram has no idempotency key: the one duplicate possible is this one, and the event
    is never lost."""
    bot, channel = await setup(client, user, telegram)
    before = len(sim.sent_to(CHAT))
    await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)

    class Killed(BaseException):
        pass

    async def die(*args: object, **kwargs: object) -> None:
        raise Killed

    start = utcnow()
    with monkeypatch.context() as patch:
        patch.setattr(delivery, "_record", die)
        with pytest.raises(Killed):
            await deliver_due(db, keyring, settings, now=start)
    assert len(sim.sent_to(CHAT)) == before + 1
    [row] = await rows(db, channel["id"])
    assert (row.status, row.attempts) == ("pending", 1)  # leased, its outcome unknown

    lease = delivery.DEFAULT_POLICY.lease
    assert await deliver_due(db, keyring, settings, now=start + lease - timedelta(seconds=1)) == 0
    assert await deliver_due(db, keyring, settings, now=start + lease) == 1
    assert sim.sent_to(CHAT)[before:] == ["• [bot alpha] fill happened"] * 2
    assert await deliver_due(db, keyring, settings, now=start + 10 * lease) == 0
    assert len(sim.sent_to(CHAT)) == before + 2
