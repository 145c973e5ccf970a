"""Property: whatever the channels' subscriptions (types, minimum severity, bots or all, on or
off) and whatever events are written (any bot of the owner's, account-level, another user's),
the outbox trigger queues exactly the (event, channel) pairs a plain reading of the
subscription rules says, each once."""

from __future__ import annotations

import asyncio
import uuid

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.credentials.crypto import keyring_from_settings
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import NotificationOutbox
from autogrid.notifications import service
from autogrid.notifications.schemas import (
    ChannelKind,
    ChannelUpdate,
    Subscription,
    WebhookChannelCreate,
)
from autogrid.notifications.severity import SEVERITY, Severity
from tests.support.factories import make_bot, make_user

TYPES = [EventType.FILL, EventType.ORDER_REJECTED, EventType.ERROR, EventType.DEAL_CLOSED]
# (types, min severity, bots: None = all or indexes of the owner's 3 bots, switched on)
channels = st.lists(
    st.tuples(
        st.lists(st.sampled_from(TYPES), min_size=1, unique=True),
        st.sampled_from(list(Severity)),
        st.none() | st.lists(st.integers(0, 2), unique=True),
        st.booleans(),
    ),
    max_size=4,
)
# (whose: 0-2 the owner's bots, 3 account-level, 4 another user's bot; type)
events = st.lists(st.tuples(st.integers(0, 4), st.sampled_from(TYPES)), max_size=12)
Chosen = tuple[list[EventType], Severity, list[int] | None, bool]


def wanted(channel: Chosen, which: int, type: EventType) -> bool:
    types, minimum, bots, active = channel
    return (
        active
        and which != 4
        and type in types
        and SEVERITY[type].rank >= minimum.rank
        and (bots is None or which in bots)
    )


async def check(
    database: Database,
    settings: Settings,
    chosen: list[Chosen],
    written: list[tuple[int, EventType]],
) -> None:
    owner, stranger = await make_user(database), await make_user(database)
    owned = [await make_bot(database, owner) for _ in range(3)]
    bots: list[uuid.UUID | None] = [*owned, None, await make_bot(database, stranger)]
    keyring = keyring_from_settings(settings)
    channel_ids: list[uuid.UUID] = []
    async with database.session_scope() as session:
        for n, (types, minimum, picked, active) in enumerate(chosen):
            body = WebhookChannelCreate(
                kind=ChannelKind.WEBHOOK,
                label=f"channel {n}",
                url=SecretStr("http://127.0.0.1:9/hook"),
                subscription=Subscription(
                    event_types=types,
                    min_severity=minimum,
                    bot_ids=None if picked is None else [owned[i] for i in picked],
                ),
            )
            view, _ = await service.create_webhook_channel(session, keyring, settings, owner, body)
            if not active:
                await service.update_channel(
                    session, owner, view.channel.id, ChannelUpdate(enabled=False)
                )
            channel_ids.append(view.channel.id)
    expected: set[tuple[int, uuid.UUID]] = set()
    async with database.session_scope() as session:
        for n, (which, type) in enumerate(written):
            event = record_event(
                session,
                user_id=stranger if which == 4 else owner,
                bot_id=bots[which],
                type=type,
                message=str(n),
                at=utcnow(),
            )
            await session.flush()
            expected |= {
                (event.id, channel_id)
                for channel, channel_id in zip(chosen, channel_ids, strict=True)
                if wanted(channel, which, type)
            }
    async with database.session_scope() as session:
        rows = (
            await session.execute(
                select(NotificationOutbox.event_id, NotificationOutbox.channel_id).where(
                    NotificationOutbox.channel_id.in_(channel_ids)
                )
            )
        ).all()
    assert len(rows) == len(set(rows))
    assert {(row[0], row[1]) for row in rows} == expected


# Each example writes under users of its own, so the fixtures need no reset between examples.
@examples(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(channels, events)
def test_the_outbox_holds_exactly_the_subscribed_pairs(
    db: Database, settings: Settings, chosen: list[Chosen], written: list[tuple[int, EventType]]
) -> None:
    async def run() -> None:
        database = Database.from_settings(settings, pooled=False)
        try:
            await check(database, settings, chosen, written)
        finally:
            await database.dispose()

    asyncio.run(run())
