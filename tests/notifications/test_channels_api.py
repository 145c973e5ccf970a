"""/api/v1/notifications/channels: a user's webhook channels are created with a URL the platform
may call, stored encrypted (the URL and signing secret never come back, but the secret once),
subscribed to event types, bots and a minimum severity, tested for real against a local
receiver that verifies Standard Webhooks signatures, and invisible to everyone else."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.models import NotificationChannel, NotificationChannelType
from autogrid.notifications.severity import DEFAULT_EVENT_TYPES, SEVERITY, Severity
from tests.bots.factories import create_bot
from tests.helpers import ApiUser, assert_error_shape, assert_not_found_for
from tests.notifications.receiver import WebhookReceiver

CHANNELS = "/api/v1/notifications/channels"
CREDENTIALED_URL_PART = "user:p4ssw0rd-in-url"


def webhook_body(url: str, **changes: Any) -> dict[str, Any]:
    return {"kind": "webhook", "label": "ops hook", "url": url, **changes}


async def create_channel(
    client: httpx.AsyncClient, user: ApiUser, url: str, **changes: Any
) -> dict[str, Any]:
    response = await client.post(CHANNELS, json=webhook_body(url, **changes), headers=user.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_webhook_channel_is_stored_encrypted_and_masked(
    client: httpx.AsyncClient, user: ApiUser, db: Database, receiver: WebhookReceiver
) -> None:
    url = receiver.url.replace("http://", f"http://{CREDENTIALED_URL_PART}@") + "?token=s3cr3t"
    created = await create_channel(client, user, url)

    assert created["signing_secret"].startswith("whsec_")
    assert created["target_masked"] == f"http://127.0.0.1:{receiver.port}/…"
    assert created["state"] == "active"
    subscription = created["subscription"]
    assert subscription["event_types"] == sorted(t.value for t in DEFAULT_EVENT_TYPES)
    # What an owner must hear of by default: failures and refusals, never silence.
    must_hear = {"error", "breaker_tripped", "stopped", "order_not_placed", "bot_stalled"}
    must_hear |= {"account_limit_reached", "signal_refused", "deal_closed", "daily_summary"}
    assert must_hear <= set(subscription["event_types"])
    assert subscription["bot_ids"] is None and subscription["min_severity"] == "info"

    # Never again: neither the secret nor any part of the URL that could be used.
    for answer in (
        await client.get(f"{CHANNELS}/{created['id']}", headers=user.headers),
        await client.get(CHANNELS, headers=user.headers),
    ):
        assert answer.status_code == 200
        assert "signing_secret" not in answer.text
        assert created["signing_secret"] not in answer.text
        assert "p4ssw0rd" not in answer.text and "s3cr3t" not in answer.text
        assert "/hooks/" not in answer.text

    async with db.session_scope() as session:
        row = await session.get(NotificationChannel, uuid.UUID(created["id"]))
        assert row is not None
    assert b"p4ssw0rd" not in row.config_ciphertext
    assert created["signing_secret"].encode() not in row.config_ciphertext


async def test_test_message_is_signed_verified_and_logged(
    client: httpx.AsyncClient, user: ApiUser, receiver: WebhookReceiver
) -> None:
    created = await create_channel(client, user, receiver.url)
    receiver.secret = created["signing_secret"]

    tested = await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)
    assert tested.status_code == 200, tested.text
    result = tested.json()
    assert result["ok"] is True and result["status_code"] == 204 and result["error"] is None
    assert receiver.verified_ids() == [result["message_id"]]
    assert receiver.requests[0].json()["type"] == "autogrid.test"

    receiver.answer_with(503)
    failed = (await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)).json()
    assert failed["ok"] is False and failed["status_code"] == 503
    assert "503" in failed["error"]

    log = await client.get(f"{CHANNELS}/{created['id']}/deliveries", headers=user.headers)
    assert log.status_code == 200
    page = log.json()
    assert page["total"] == 2
    newest, oldest = page["items"]
    assert (newest["ok"], newest["status_code"], newest["message_id"]) == (
        False,
        503,
        failed["message_id"],
    )
    assert (oldest["ok"], oldest["event_id"]) == (True, None)


async def test_an_unreachable_receiver_is_a_failed_test_without_the_url(
    client: httpx.AsyncClient, user: ApiUser, receiver: WebhookReceiver
) -> None:
    url = receiver.url.replace("http://", f"http://{CREDENTIALED_URL_PART}@")
    created = await create_channel(client, user, url)
    await receiver.__aexit__(None, None, None)  # nobody listens there any more

    result = (await client.post(f"{CHANNELS}/{created['id']}/test", headers=user.headers)).json()
    assert result["ok"] is False and result["status_code"] is None
    assert "p4ssw0rd" not in result["error"] and str(receiver.port) not in result["error"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "not a url",
        "https:///no-host",
        "https://example.com/hook#fragment",
        "https://example.com:99999/hook",
    ],
)
async def test_malformed_urls_are_refused(
    client: httpx.AsyncClient, user: ApiUser, url: str
) -> None:
    response = await client.post(CHANNELS, json=webhook_body(url), headers=user.headers)
    assert_error_shape(response, 422)
    assert url not in response.text


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://93.184.215.14/hook",  # public, but not https
    ],
)
async def test_private_targets_are_refused_in_production_settings(
    client: httpx.AsyncClient, app: Any, user: ApiUser, url: str
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"notifications_allow_private_targets": False}
    )
    response = await client.post(CHANNELS, json=webhook_body(url), headers=user.headers)
    assert_error_shape(response, 422)


async def test_subscription_keeps_types_at_or_above_the_minimum_severity(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    receiver: WebhookReceiver,
    replay_candles: None,
) -> None:
    bot = await create_bot(client, user)
    chosen = [EventType.FILL, EventType.ORDER_REJECTED, EventType.ERROR]
    created = await create_channel(
        client,
        user,
        receiver.url,
        subscription={
            "event_types": [t.value for t in chosen],
            "bot_ids": [bot["id"]],
            "min_severity": "warning",
        },
    )
    subscription = created["subscription"]
    assert subscription["bot_ids"] == [bot["id"]]
    assert subscription["effective_event_types"] == ["error", "order_rejected"]

    async with db.session_scope() as session:
        stored = await session.scalars(
            select(NotificationChannelType.event_type).where(
                NotificationChannelType.channel_id == uuid.UUID(created["id"])
            )
        )
        assert sorted(stored.all()) == ["error", "order_rejected"]

    patched = await client.patch(
        f"{CHANNELS}/{created['id']}",
        json={"subscription": {"event_types": ["fill"], "min_severity": "info"}},
        headers=user.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["subscription"] == {
        "event_types": ["fill"],
        "bot_ids": None,
        "min_severity": "info",
        "effective_event_types": ["fill"],
    }


async def test_bad_subscriptions_are_refused(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    receiver: WebhookReceiver,
    replay_candles: None,
) -> None:
    theirs = await create_bot(client, other_user)
    response = await client.post(
        CHANNELS,
        json=webhook_body(receiver.url, subscription={"bot_ids": [theirs["id"]]}),
        headers=user.headers,
    )
    assert_error_shape(response, 404, "not_found")
    refused: list[dict[str, object]] = [
        {"event_types": ["no_such_type"]},
        {"event_types": []},
        {"min_severity": "catastrophic"},
        {"owner_id": str(user.id)},
    ]
    for subscription in refused:
        response = await client.post(
            CHANNELS,
            json=webhook_body(receiver.url, subscription=subscription),
            headers=user.headers,
        )
        assert_error_shape(response, 422)
    for extra in ({"state": "active"}, {"kind": "carrier_pigeon"}):
        response = await client.post(
            CHANNELS, json=webhook_body(receiver.url, **extra), headers=user.headers
        )
        assert_error_shape(response, 422)


async def test_labels_are_unique_per_user_and_channels_private(
    client: httpx.AsyncClient, user: ApiUser, other_user: ApiUser, receiver: WebhookReceiver
) -> None:
    created = await create_channel(client, user, receiver.url)
    again = await client.post(CHANNELS, json=webhook_body(receiver.url), headers=user.headers)
    assert_error_shape(again, 409, "conflict")
    await create_channel(client, other_user, receiver.url)  # their own label space

    path = f"{CHANNELS}/{created['id']}"
    for method, target, body in [
        ("GET", path, None),
        ("PATCH", path, {"label": "mine now"}),
        ("DELETE", path, None),
        ("POST", f"{path}/test", None),
        ("GET", f"{path}/deliveries", None),
    ]:
        await assert_not_found_for(client, other_user, method, target, json=body)
    assert receiver.requests == []
    listed = (await client.get(CHANNELS, headers=other_user.headers)).json()
    assert created["id"] not in {item["id"] for item in listed["items"]}


async def test_switching_off_and_on_and_deleting(
    client: httpx.AsyncClient, user: ApiUser, receiver: WebhookReceiver
) -> None:
    created = await create_channel(client, user, receiver.url)
    path = f"{CHANNELS}/{created['id']}"
    off = (await client.patch(path, json={"enabled": False}, headers=user.headers)).json()
    assert (off["state"], off["disabled_reason"]) == ("disabled", "disabled by its owner")
    on = (await client.patch(path, json={"enabled": True}, headers=user.headers)).json()
    assert (on["state"], on["disabled_reason"], on["consecutive_failures"]) == ("active", None, 0)

    assert (await client.delete(path, headers=user.headers)).status_code == 204
    assert_error_shape(await client.get(path, headers=user.headers), 404, "not_found")


async def test_event_types_list_every_type_with_its_severity(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    answer = await client.get("/api/v1/notifications/event-types", headers=user.headers)
    assert answer.status_code == 200
    listed = {item["event_type"]: item for item in answer.json()}
    assert set(listed) == {t.value for t in EventType}
    assert listed["error"]["severity"] == Severity.ERROR and listed["error"]["default"]
    assert listed["fill"]["severity"] == SEVERITY[EventType.FILL] == Severity.INFO


async def test_openapi_documents_the_channel_routes_without_secrets(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/notifications/channels", "post"),
        ("/api/v1/notifications/channels", "get"),
        ("/api/v1/notifications/channels/{channel_id}", "patch"),
        ("/api/v1/notifications/channels/{channel_id}", "delete"),
        ("/api/v1/notifications/channels/{channel_id}/test", "post"),
        ("/api/v1/notifications/channels/{channel_id}/deliveries", "get"),
        ("/api/v1/notifications/event-types", "get"),
    ]:
        operation = paths[path][method]
        assert operation["summary"] and "notifications" in operation["tags"]
    components = schema["components"]["schemas"]
    read = components["ChannelRead"]["properties"]
    assert "url" not in read and "signing_secret" not in read
    assert "signing_secret" in components["ChannelCreated"]["properties"]
    create = components["WebhookChannelCreate"]["properties"]
    assert create["url"]["writeOnly"] is True
