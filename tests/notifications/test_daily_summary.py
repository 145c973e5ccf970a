"""The daily summary: at the hour a user chose in their time zone, one ``daily_summary`` event
with the day's trades, realised P&L and bots by status, sent to the channels that subscribe to
it through the outbox; once a day however many runs (even at once), and only to those who
subscribe."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.models import BotMetric, Event, Fill
from autogrid.notifications.delivery import deliver_due
from autogrid.notifications.summary import send_daily_summaries
from autogrid.worker.celery_app import create_celery
from tests.helpers import ApiUser, assert_error_shape
from tests.notifications.receiver import WebhookReceiver
from tests.notifications.test_channels_api import create_channel
from tests.support.factories import make_bot

PREFERENCES = "/api/v1/notifications/preferences"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def trade_history(db: Database, bot_id: uuid.UUID) -> None:
    """Fills and P&L samples around the Tokyo day that ends 2026-12-07 09:00 (00:00 UTC)."""
    async with db.session_scope() as session:
        for ts in ("2026-12-05T20:00", "2026-12-06T05:00", "2026-12-06T20:00"):
            session.add(
                Fill(
                    ts=at(ts),
                    order_id=uuid.uuid4(),
                    bot_id=bot_id,
                    trade_id=f"t-{ts}",
                    side="buy",
                    price=Decimal("100"),
                    amount=Decimal("0.1"),
                    fee=Decimal("0"),
                )
            )
        for ts, realized in (("2026-12-05T23:00", "10"), ("2026-12-06T22:00", "35.5")):
            session.add(
                BotMetric(
                    bot_id=bot_id,
                    ts=at(ts),
                    equity=Decimal("1000"),
                    realized_pnl=Decimal(realized),
                    unrealized_pnl=Decimal("3"),
                    position=Decimal("0.1"),
                )
            )


async def summaries(db: Database, user_id: uuid.UUID) -> list[Event]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(Event)
            .where(Event.user_id == user_id, Event.type == "daily_summary")
            .order_by(Event.id)
        )
        return list(rows)


async def test_one_summary_a_day_at_the_users_local_hour_to_subscribed_channels(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    user: ApiUser,
    other_user: ApiUser,
    receiver: WebhookReceiver,
) -> None:
    bot = await make_bot(db, user.id, status="running")
    await make_bot(db, user.id, status="error")
    await trade_history(db, bot)
    chosen = {"timezone": "Asia/Tokyo", "daily_summary_hour": 9}
    saved = await client.put(PREFERENCES, json=chosen, headers=user.headers)
    assert saved.status_code == 200 and saved.json() == chosen
    channel = await create_channel(
        client, user, receiver.url, subscription={"event_types": ["daily_summary"]}
    )
    receiver.secret = channel["signing_secret"]
    # Another user's channel does not subscribe to it: no summary for them.
    await create_channel(client, other_user, receiver.url, subscription={"event_types": ["fill"]})

    assert await send_daily_summaries(db, at("2026-12-06T23:30")) == 0  # 08:30 in Tokyo
    # 09:10 in Tokyo: due. Two runs at once (two beats, or a run overlapping the next) send one.
    runs = await asyncio.gather(
        send_daily_summaries(db, at("2026-12-07T00:10")),
        send_daily_summaries(db, at("2026-12-07T00:10")),
    )
    assert sorted(runs) == [0, 1]
    assert await send_daily_summaries(db, at("2026-12-07T10:00")) == 0  # later that day
    [summary] = await summaries(db, user.id)
    assert summary.bot_id is None
    data: dict[str, Any] = summary.data or {}
    assert data["day"] == "2026-12-07" and data["timezone"] == "Asia/Tokyo"
    assert data["trades"] == 2  # the 24 hours up to 09:00 Tokyo, not the fill before
    assert {k: Decimal(v) for k, v in data["realized_pnl"].items()} == {"USDT": Decimal("25.5")}
    assert data["bots"] == {"running": 1, "paused": 0, "stopped": 0, "errored": 1}
    assert "2 trades" in summary.message and "+25.5" in summary.message
    assert await summaries(db, other_user.id) == []

    keyring = keyring_from_settings(settings)
    assert await deliver_due(db, keyring, settings, now=at("2026-12-07T00:11")) == 1
    [request] = receiver.requests
    payload: dict[str, Any] = request.payload or {}
    assert request.verified and payload["type"] == "daily_summary"
    assert payload["data"]["data"]["trades"] == 2

    assert await send_daily_summaries(db, at("2026-12-08T00:05")) == 1  # the next day's
    assert [s.data["day"] for s in await summaries(db, user.id) if s.data] == [
        "2026-12-07",
        "2026-12-08",
    ]


async def test_a_user_without_preferences_gets_it_at_eight_utc(
    client: httpx.AsyncClient, db: Database, user: ApiUser, receiver: WebhookReceiver
) -> None:
    await create_channel(
        client, user, receiver.url, subscription={"event_types": ["daily_summary"]}
    )
    assert (await client.get(PREFERENCES, headers=user.headers)).json() == {
        "timezone": "UTC",
        "daily_summary_hour": 8,
    }
    assert await send_daily_summaries(db, at("2026-12-07T07:59")) == 0
    assert await send_daily_summaries(db, at("2026-12-07T08:00")) == 1
    [summary] = await summaries(db, user.id)
    assert summary.data is not None and summary.data["trades"] == 0
    assert summary.data["realized_pnl"] == {}


async def test_preferences_refuse_unknown_zones_and_hours(
    client: httpx.AsyncClient, user: ApiUser
) -> None:
    for body in (
        {"timezone": "Mars/Olympus", "daily_summary_hour": 9},
        {"timezone": "../../etc/passwd", "daily_summary_hour": 9},
        {"timezone": "UTC", "daily_summary_hour": 24},
        {"timezone": "UTC", "daily_summary_hour": False},
        {"timezone": "UTC", "daily_summary_hour": "9"},
        {"timezone": "UTC", "daily_summary_hour": 9, "extra": 1},
    ):
        assert_error_shape(await client.put(PREFERENCES, json=body, headers=user.headers), 422)


async def test_the_beat_job_sends_the_summaries_due_once(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    user: ApiUser,
    receiver: WebhookReceiver,
) -> None:
    await create_channel(
        client, user, receiver.url, subscription={"event_types": ["daily_summary"]}
    )
    midnight = {"timezone": "UTC", "daily_summary_hour": 0}  # due at any time of the day
    assert (await client.put(PREFERENCES, json=midnight, headers=user.headers)).status_code == 200
    app = create_celery(settings)
    entry = app.conf.beat_schedule["send-daily-summaries"]
    app.loader.import_default_modules()
    job = app.tasks[entry["task"]]

    # In a thread of its own, as a worker runs it (the task runs its own event loop).
    assert await asyncio.to_thread(lambda: job.apply().get()) == 1
    assert await asyncio.to_thread(lambda: job.apply().get()) == 0
    assert len(await summaries(db, user.id)) == 1
