"""Email, Discord and Slack channels: created with an apprise URL (stored encrypted, masked in
answers), tested and delivered by the real apprise library to local servers speaking SMTP and
Discord's and Slack's webhook protocols, retried through the outbox like webhooks when the
service fails, and refused when the host they would reach is not public (SSRF)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.events.types import EventType
from autogrid.models import NotificationChannel
from autogrid.notifications.delivery import deliver_due
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape
from tests.notifications.apprise_servers import (
    DISCORD_ID,
    DISCORD_TOKEN,
    SLACK_TOKENS,
    SMTP_PASSWORD,
    ChatWebhookServer,
    SmtpServer,
)
from tests.notifications.test_channels_api import CHANNELS
from tests.notifications.test_delivery import journal, outbox_of

DISCORD_URL = f"https://discord.com/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"
SLACK_URL = "slack://{}/{}/{}".format(*SLACK_TOKENS)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
async def chat() -> AsyncIterator[ChatWebhookServer]:
    async with ChatWebhookServer() as server:
        yield server


@pytest.fixture
def chat_settings(settings: Settings, chat: ChatWebhookServer) -> Settings:
    return settings.model_copy(
        update={
            "notifications_discord_webhook_url": chat.discord_base,
            "notifications_slack_webhook_url": chat.slack_base,
        }
    )


@pytest.fixture
def pointed_app(app: Any, chat_settings: Settings) -> Any:
    """The API process sends Discord and Slack messages to the local server."""
    app.state.settings = chat_settings
    return app


async def create(
    client: httpx.AsyncClient, user: ApiUser, kind: str, url: str, **changes: Any
) -> dict[str, Any]:
    body = {"kind": kind, "label": f"{kind} alerts", "url": url, **changes}
    response = await client.post(CHANNELS, json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_email_channel_is_masked_encrypted_and_its_test_is_mailed(
    client: httpx.AsyncClient, user: ApiUser, db: Database, smtp: SmtpServer
) -> None:
    created = await create(client, user, "email", smtp.url_for("trader@example.com"))
    assert created["target_masked"] == f"email://127.0.0.1:{smtp.port}/…"
    assert created["state"] == "active" and "signing_secret" not in created
    for answer in (
        await client.get(f"{CHANNELS}/{created['id']}", headers=user.headers),
        await client.get(CHANNELS, headers=user.headers),
    ):
        assert SMTP_PASSWORD not in answer.text and "trader@" not in answer.text
    async with db.session_scope() as session:
        row = await session.get(NotificationChannel, uuid.UUID(created["id"]))
    assert row is not None and SMTP_PASSWORD.encode() not in row.config_ciphertext

    tested = await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True and tested.json()["error"] is None
    assert smtp.logins == ["alerts"]  # apprise logged in with the URL's credentials
    [mail] = smtp.messages
    assert mail.recipients == ["trader@example.com"]
    assert mail.message["Subject"] == "AutoGrid test message"
    body = mail.message.get_body(preferencelist=("plain",))
    assert body is not None and "receives AutoGrid notifications" in body.get_content()

    deliveries = await client.get(f"{CHANNELS}/{created['id']}/deliveries", headers=user.headers)
    assert [item["ok"] for item in deliveries.json()["items"]] == [True]

    deleted = await client.delete(f"{CHANNELS}/{created['id']}", headers=user.headers)
    assert deleted.status_code == 204
    assert (await client.get(CHANNELS, headers=user.headers)).json()["total"] == 0


async def test_wrong_smtp_password_fails_the_test_and_says_so(
    client: httpx.AsyncClient, user: ApiUser, smtp: SmtpServer
) -> None:
    created = await create(client, user, "email", smtp.url_for("t@example.com", password="bad"))
    tested = await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)
    result = tested.json()
    assert result["ok"] is False and "email" in result["error"] and "bad" not in result["error"]
    assert smtp.messages == []


@pytest.mark.parametrize(
    ("kind", "url", "path"),
    [
        ("discord", DISCORD_URL, f"/api/webhooks/{DISCORD_ID}/{DISCORD_TOKEN}"),
        ("discord", f"discord://{DISCORD_ID}/{DISCORD_TOKEN}", None),
        ("slack", SLACK_URL, "/services/{}/{}/{}".format(*SLACK_TOKENS)),
        ("slack", "https://hooks.slack.com/services/{}/{}/{}".format(*SLACK_TOKENS), None),
    ],
)
async def test_discord_and_slack_tests_reach_their_webhook(
    client: httpx.AsyncClient,
    user: ApiUser,
    pointed_app: Any,
    chat: ChatWebhookServer,
    kind: str,
    url: str,
    path: str | None,
) -> None:
    created = await create(client, user, kind, url)
    assert DISCORD_TOKEN not in str(created) and SLACK_TOKENS[2] not in str(created)
    tested = await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)
    assert tested.json()["ok"] is True, tested.text
    [post] = chat.posts
    assert post.service == kind and chat.refused == []
    if path is not None:
        assert post.path == path
    assert "receives AutoGrid notifications" in chat.texts(kind)[0]


async def test_events_reach_apprise_channels_through_the_outbox_and_failures_retry(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    pointed_app: Any,
    chat_settings: Settings,
    chat: ChatWebhookServer,
    smtp: SmtpServer,
    replay_candles: None,
) -> None:
    bot = await create_bot(client, user)
    subscription = {"event_types": ["fill"]}
    channels = {
        kind: await create(client, user, kind, url, subscription=subscription)
        for kind, url in (
            ("email", smtp.url_for("trader@example.com")),
            ("discord", DISCORD_URL),
            ("slack", SLACK_URL),
        )
    }
    keyring = keyring_from_settings(chat_settings)

    chat.fail_with = 503  # Discord and Slack are down: trading goes on, the rows wait
    fill = await journal(db, bot["id"], EventType.FILL)
    now = utcnow()
    assert await deliver_due(db, keyring, chat_settings, now=now) == 1  # the email only
    assert len(smtp.messages) == 1 and "fill happened" in str(smtp.messages[0].message)
    for kind in ("discord", "slack"):
        [row] = await outbox_of(db, channels[kind]["id"])
        assert row.event_id == fill and row.attempts == 1 and row.delivered_at is None
        assert row.next_attempt_at > now  # backed off, not dropped
        log = await client.get(
            f"{CHANNELS}/{channels[kind]['id']}/deliveries", headers=user.headers
        )
        [attempt] = log.json()["items"]
        assert attempt["ok"] is False and "did not accept" in attempt["error"]

    chat.fail_with = None
    later = now + timedelta(minutes=5)
    assert await deliver_due(db, keyring, chat_settings, now=later) == 2
    assert sorted(post.service for post in chat.posts) == ["discord", "slack"]
    assert all("fill happened" in text for text in chat.texts("discord") + chat.texts("slack"))
    assert await deliver_due(db, keyring, chat_settings, now=later + timedelta(hours=1)) == 0
    assert len(smtp.messages) == 1 and len(chat.posts) == 2  # each event once per channel


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("email", "mailto://u:p@127.0.0.1:2525?to=a@example.com"),  # loopback
        ("email", "mailtos://u:p@10.0.0.7?to=a@example.com"),  # private
        ("email", "mailto://u:p@93.184.215.14?to=a@example.com"),  # public but plain SMTP
        ("discord", SLACK_URL),  # not the kind it claims
        ("slack", "slack://xoxb-1234-1234-4ddbc191d40ee098cbaae6f3523ada2d/#general"),  # bot mode
        ("email", "not a url"),
    ],
)
async def test_urls_the_platform_will_not_send_to_are_refused(
    client: httpx.AsyncClient, app: Any, user: ApiUser, kind: str, url: str
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"notifications_allow_private_targets": False}
    )
    response = await client.post(
        CHANNELS,
        json={"kind": kind, "label": "x", "url": url},
        headers=user.headers,
    )
    assert_error_shape(response, 422)
    assert "u:p" not in response.text and "xoxb" not in response.text


async def test_a_local_discord_endpoint_is_refused_in_production_settings(
    client: httpx.AsyncClient, user: ApiUser, pointed_app: Any
) -> None:
    pointed_app.state.settings = pointed_app.state.settings.model_copy(
        update={"notifications_allow_private_targets": False}
    )
    response = await client.post(
        CHANNELS,
        json={"kind": "discord", "label": "x", "url": DISCORD_URL},
        headers=user.headers,
    )
    assert_error_shape(response, 422)
