"""The outbox: an event and the rows that will deliver it commit together (a trigger on events),
a sender delivers each row once, signed, retries failures with exponential backoff, gives up
after its last attempt, switches off a channel that keeps failing (with an event), and a sender
killed mid-send leaves the row to be sent again under the same webhook-id."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
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
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import Bot, Event, NotificationChannel, NotificationOutbox
from autogrid.notifications.delivery import DeliveryPolicy, deliver_due
from autogrid.worker.celery_app import create_celery
from tests.bots.factories import create_bot
from tests.helpers import ApiUser
from tests.infra import REPO_ROOT
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import CHANNELS, create_channel

pytestmark = pytest.mark.usefixtures("replay_candles")
FILL_DATA = {"price": "100.5", "amount": "0.01", "fee": "0.001", "trade_id": "t-1"}


async def journal(
    db: Database, bot_id: str, type: EventType = EventType.FILL, *, fail: bool = False
) -> int:
    """One event written like every writer does, in a transaction that commits or (``fail``)
    rolls back; its id."""

    class Rollback(Exception):
        pass

    try:
        async with db.session_scope() as session:
            bot = await session.get(Bot, uuid.UUID(bot_id))
            assert bot is not None
            event = record_event(
                session,
                user_id=bot.user_id,
                bot_id=bot.id,
                type=type,
                message=f"{type.value} happened",
                at=utcnow(),
                data=FILL_DATA,
            )
            await session.flush()
            if fail:
                raise Rollback
            return event.id
    except Rollback:
        return -1


async def outbox_of(db: Database, channel_id: str) -> list[NotificationOutbox]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(NotificationOutbox)
            .where(NotificationOutbox.channel_id == uuid.UUID(channel_id))
            .order_by(NotificationOutbox.id)
        )
        return list(rows)


async def fill_channel(
    client: httpx.AsyncClient, user: ApiUser, receiver: WebhookReceiver, **subscription: Any
) -> dict[str, Any]:
    channel = await create_channel(
        client,
        user,
        receiver.url,
        subscription={"event_types": ["fill", "error"], **subscription},
    )
    receiver.secret = channel["signing_secret"]
    return channel


async def test_outbox_rows_commit_with_matching_events_only(
    client: httpx.AsyncClient,
    user: ApiUser,
    other_user: ApiUser,
    db: Database,
    receiver: WebhookReceiver,
) -> None:
    bot, second_bot = await create_bot(client, user), await create_bot(client, user)
    theirs = await create_bot(client, other_user)
    everything = await fill_channel(client, user, receiver)
    first_only = await create_channel(
        client,
        user,
        receiver.url,
        label="first bot only",
        subscription={"event_types": ["fill"], "bot_ids": [bot["id"]]},
    )

    fill = await journal(db, bot["id"])
    await journal(db, bot["id"], fail=True)  # rolled back: no event, no outbox row
    await journal(db, bot["id"], EventType.ORDER_PLACED)  # not subscribed
    second_fill = await journal(db, second_bot["id"])
    await journal(db, theirs["id"])  # another user's

    assert [row.event_id for row in await outbox_of(db, everything["id"])] == [fill, second_fill]
    assert [row.event_id for row in await outbox_of(db, first_only["id"])] == [fill]
    row = (await outbox_of(db, everything["id"]))[0]
    assert (row.status, row.attempts) == ("pending", 0)

    # A channel switched off receives nothing new.
    await client.patch(
        f"{CHANNELS}/{everything['id']}", json={"enabled": False}, headers=user.headers
    )
    await journal(db, bot["id"])
    assert len(await outbox_of(db, everything["id"])) == 2


async def test_a_fill_is_delivered_signed_once_and_logged(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    channel = await fill_channel(client, user, receiver)
    fill = await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)

    assert await deliver_due(db, keyring, settings, now=utcnow()) == 1
    assert await deliver_due(db, keyring, settings, now=utcnow() + timedelta(hours=2)) == 0

    assert receiver.verified_ids() == [f"evt_{fill}"]
    payload = receiver.requests[0].json()
    assert payload["type"] == "fill"
    assert payload["data"]["event_id"] == fill and payload["data"]["data"] == FILL_DATA
    assert payload["data"]["bot_id"] == bot["id"] and payload["data"]["severity"] == "info"
    [row] = await outbox_of(db, channel["id"])
    assert (row.status, row.attempts, row.delivered_at is not None) == ("delivered", 1, True)

    log = (await client.get(f"{CHANNELS}/{channel['id']}/deliveries", headers=user.headers)).json()
    assert [(d["event_id"], d["ok"], d["attempt"]) for d in log["items"]] == [(fill, True, 1)]


async def test_failures_back_off_exponentially_then_give_up(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    channel = await fill_channel(client, user, receiver)
    await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)
    policy = DeliveryPolicy(max_attempts=3, base_delay=timedelta(seconds=10), disable_after=99)
    receiver.answer_with(500)
    start = utcnow()

    assert await deliver_due(db, keyring, settings, now=start, policy=policy) == 0
    [row] = await outbox_of(db, channel["id"])
    assert row.next_attempt_at == start + timedelta(seconds=10)
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "the receiver answered HTTP 500",
    )

    # Not due before its time: nothing is sent.
    await deliver_due(db, keyring, settings, now=start + timedelta(seconds=9), policy=policy)
    assert len(receiver.requests) == 1
    second = start + timedelta(seconds=10)
    await deliver_due(db, keyring, settings, now=second, policy=policy)
    [row] = await outbox_of(db, channel["id"])
    assert (row.attempts, row.next_attempt_at) == (2, second + timedelta(seconds=20))

    await deliver_due(db, keyring, settings, now=second + timedelta(seconds=20), policy=policy)
    [row] = await outbox_of(db, channel["id"])
    assert (row.status, row.attempts) == ("failed", 3)
    await deliver_due(db, keyring, settings, now=start + timedelta(days=1), policy=policy)
    assert len(receiver.requests) == 3
    assert len(set(receiver.verified_ids())) == 1  # every attempt under the same webhook-id


async def test_a_channel_that_keeps_failing_is_switched_off_with_an_event(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    channel = await fill_channel(client, user, receiver)
    for _ in range(3):
        await journal(db, bot["id"])
    keyring = keyring_from_settings(settings)
    policy = DeliveryPolicy(disable_after=3)
    receiver.answer_with(503)

    await deliver_due(db, keyring, settings, now=utcnow(), policy=policy)

    shown = (await client.get(f"{CHANNELS}/{channel['id']}", headers=user.headers)).json()
    assert shown["state"] == "disabled" and shown["consecutive_failures"] == 3
    assert "3 failed deliveries" in shown["disabled_reason"]
    events = (
        await client.get("/api/v1/events?type=notification_channel_disabled", headers=user.headers)
    ).json()["items"]
    assert [event["data"]["channel_id"] for event in events] == [channel["id"]]
    assert EventType.NOTIFICATION_CHANNEL_DISABLED.value == events[0]["type"]

    # Switched off: its pending rows wait, nothing more is sent until it is switched on again.
    await deliver_due(db, keyring, settings, now=utcnow() + timedelta(hours=1), policy=policy)
    assert len(receiver.requests) == 3
    receiver.answer_with(204)
    await client.patch(f"{CHANNELS}/{channel['id']}", json={"enabled": True}, headers=user.headers)
    assert await deliver_due(db, keyring, settings, now=utcnow() + timedelta(hours=1)) == 3
    assert len(receiver.acted_on()) == 3


_KILLABLE_SENDER = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from autogrid.core.config import load_settings
    from autogrid.core.db import Database
    from autogrid.core.sqltypes import utcnow
    from autogrid.credentials.crypto import keyring_from_settings
    from autogrid.notifications.delivery import deliver_due

    settings = load_settings(**json.loads(os.environ["SENDER_SETTINGS"]))

    async def main():
        database = Database.from_settings(settings, pooled=False)
        await deliver_due(database, keyring_from_settings(settings), settings, now=utcnow())

    asyncio.run(main())
    """
)


async def test_a_sender_killed_mid_send_leaves_the_fill_to_be_sent_again_under_its_id(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    channel = await fill_channel(client, user, receiver)
    fill = await journal(db, bot["id"])
    receiver.hold = asyncio.Event()
    sender_settings = {
        "environment": "development",
        "database_url": settings.database_url,
        "jwt_secret": settings.jwt_secret,
        "encryption_keys": settings.encryption_keys,
        "notifications_allow_private_targets": True,
        "var_dir": str(settings.var_dir),
        "log_json": False,
    }
    env = {**os.environ, "SENDER_SETTINGS": json.dumps(sender_settings)}
    env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + str(REPO_ROOT)
    sender = subprocess.Popen([sys.executable, "-c", _KILLABLE_SENDER], env=env)
    try:
        # The sender claimed the row and the receiver holds its request: kill it there.
        await asyncio.wait_for(receiver.arrived.wait(), timeout=120)
    finally:
        sender.send_signal(signal.SIGKILL)
        await asyncio.to_thread(sender.wait)
    receiver.hold.set()
    receiver.hold = None

    [row] = await outbox_of(db, channel["id"])
    assert (row.status, row.attempts) == ("pending", 1)  # claimed, never recorded
    keyring = keyring_from_settings(settings)
    # Leased: nobody sends it again before the lease ends...
    assert await deliver_due(db, keyring, settings, now=utcnow()) == 0
    # ...and after it, it goes once more, under the same id.
    later = utcnow() + timedelta(minutes=10)
    assert await deliver_due(db, keyring, settings, now=later) == 1
    assert await deliver_due(db, keyring, settings, now=later + timedelta(hours=1)) == 0

    assert receiver.verified_ids() == [f"evt_{fill}", f"evt_{fill}"]
    assert receiver.acted_on() == [f"evt_{fill}"]
    [row] = await outbox_of(db, channel["id"])
    assert (row.status, row.attempts) == ("delivered", 2)


async def test_events_of_a_deleted_channel_go_with_it(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    channel = await fill_channel(client, user, receiver)
    await journal(db, bot["id"])
    await client.delete(f"{CHANNELS}/{channel['id']}", headers=user.headers)
    assert await outbox_of(db, channel["id"]) == []
    async with db.session_scope() as session:
        assert await session.get(NotificationChannel, uuid.UUID(channel["id"])) is None
        assert (await session.scalars(select(Event.id))).all()  # the journal keeps its events


async def test_the_beat_job_delivers_the_outbox(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    await fill_channel(client, user, receiver)
    fill = await journal(db, bot["id"], EventType.ERROR)
    app = create_celery(settings)
    entry = app.conf.beat_schedule["deliver-notifications"]
    assert entry["task"] == "autogrid.notifications.tasks.deliver_notifications"
    app.loader.import_default_modules()
    deliver = app.tasks[entry["task"]]

    # In a thread of its own, as a worker runs it (the task runs its own event loop).
    delivered = await asyncio.to_thread(lambda: deliver.apply().get())

    assert delivered == 1
    assert receiver.acted_on() == [f"evt_{fill}"]
    assert receiver.requests[0].json()["data"]["severity"] == "error"


async def test_a_channel_deleted_while_its_message_is_in_flight_breaks_nothing(
    client: httpx.AsyncClient,
    user: ApiUser,
    db: Database,
    settings: Settings,
    receiver: WebhookReceiver,
) -> None:
    bot = await create_bot(client, user)
    doomed = await fill_channel(client, user, receiver)
    other_receiver = WebhookReceiver()
    async with other_receiver:
        kept = await create_channel(
            client, user, other_receiver.url, label="kept", subscription={"event_types": ["fill"]}
        )
        await journal(db, bot["id"])
        receiver.hold = asyncio.Event()
        keyring = keyring_from_settings(settings)
        sending = asyncio.create_task(deliver_due(db, keyring, settings, now=utcnow()))
        await asyncio.wait_for(receiver.arrived.wait(), timeout=120)
        deleted = await client.delete(f"{CHANNELS}/{doomed['id']}", headers=user.headers)
        assert deleted.status_code == 204
        receiver.hold.set()

        assert await sending == 2  # both were taken; the survivor's outcome is recorded
    [row] = await outbox_of(db, kept["id"])
    assert row.status == "delivered"
