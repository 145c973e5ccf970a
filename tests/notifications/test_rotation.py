"""``autogrid rotate-keys`` re-encrypts channel destinations too: after A -> (B, A) -> rotate,
key B alone still sends a channel made under A; a channel whose key is gone fails the command."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from asgi_lifespan import LifespanManager
from click.testing import CliRunner, Result
from sqlalchemy import update

from autogrid.app import create_app
from autogrid.bots.markets import conservative_market_rules
from autogrid.core.config import Settings, new_encryption_key
from autogrid.core.db import Database
from autogrid.credentials.cli import rotate_keys_command
from autogrid.credentials.crypto import KeyRing, blob_key_id
from autogrid.models import NotificationChannel
from tests.helpers import ApiUser
from tests.infra import LIFESPAN_TIMEOUTS
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import CHANNELS, create_channel


async def invoke(settings: Settings) -> Result:
    """The command runs its own event loop, so it runs in a worker thread."""
    return await asyncio.to_thread(CliRunner().invoke, rotate_keys_command, [], obj=settings)


async def stored_key_id(db: Database, channel_id: str) -> int:
    async with db.session_scope() as session:
        row = await session.get(NotificationChannel, uuid.UUID(channel_id))
        assert row is not None
        assert blob_key_id(row.config_ciphertext) == row.key_version
        return row.key_version


async def test_rotated_channels_send_with_the_new_key_alone(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    channel = await create_channel(client, user, receiver.url)
    receiver.secret = channel["signing_secret"]
    old_key, new_key = settings.encryption_keys[0], new_encryption_key()

    result = await invoke(settings.model_copy(update={"encryption_keys": [new_key, old_key]}))
    assert result.exit_code == 0, result.output
    new_id = KeyRing.from_strings([new_key]).newest_key_id
    assert await stored_key_id(db, channel["id"]) == new_id

    only_new = settings.model_copy(update={"encryption_keys": [new_key]})
    application = create_app(only_new)
    async with LifespanManager(application, **LIFESPAN_TIMEOUTS):
        application.state.market_rules_provider = conservative_market_rules
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            tested = await http.post(f"{CHANNELS}/{channel['id']}/test", headers=user.headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True
    assert receiver.verified_ids() == [tested.json()["message_id"]]


async def test_a_channel_whose_key_is_gone_fails_the_command(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    channel = await create_channel(client, user, receiver.url)
    async with db.session_scope() as session:  # as if sealed under a key since removed
        await session.execute(
            update(NotificationChannel)
            .where(NotificationChannel.id == uuid.UUID(channel["id"]))
            .values(key_version=12345)
        )
    new_key = new_encryption_key()
    result = await invoke(settings.model_copy(update={"encryption_keys": [new_key]}))
    assert result.exit_code == 1
    assert f"failed {channel['id']}" in result.output
