"""One user's live stream: replayed from the journal after the client's last id, then live from
the process's feed, in id order, each event once, filtered by bot and type."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from autogrid.bots import service as bots
from autogrid.core.db import Database
from autogrid.core.errors import Unauthorized
from autogrid.live import repository
from autogrid.live.envelope import Control, control_envelope, event_envelope
from autogrid.live.hub import LiveHub
from autogrid.live.subscription import Subscription
from autogrid.live.tickets import TicketStore
from autogrid.models import Event, User, UserIdentity

REPLAY_PAGE = 500
# A client more events behind than this re-reads its state (REST) instead of a replay.
MAX_REPLAY_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """Empty sets match everything. Account-level events (no bot) pass a bot filter only when
    it is empty, as on GET /events."""

    bot_ids: frozenset[uuid.UUID] = frozenset()
    types: frozenset[str] = frozenset()

    def matches(self, event: Event) -> bool:
        if self.bot_ids and event.bot_id not in self.bot_ids:
            return False
        return not self.types or event.type in self.types


async def user_for_ticket(database: Database, tickets: TicketStore, ticket: str) -> User:
    """The active user a ticket was issued to, still signed in with the token version it was
    issued under; Unauthorized for any bad, used or expired ticket, or a revoked one."""
    holder = await tickets.redeem(ticket) if ticket else None
    if holder is None:
        raise Unauthorized("invalid or expired ticket")
    async with database.session_scope() as session:
        user = await session.get(User, holder.user_id)
    if user is None or not user.is_active or user.token_version != holder.token_version:
        raise Unauthorized("invalid or expired ticket")
    return user


async def check_filter(
    database: Database, user: UserIdentity, bot_ids: Collection[uuid.UUID], types: Collection[str]
) -> StreamFilter:
    """The filter, once every bot in it is the user's (NotFound otherwise, as on every route)."""
    async with database.session_scope() as session:
        for bot_id in bot_ids:
            await bots.get_bot(session, user, bot_id)
    return StreamFilter(frozenset(bot_ids), frozenset(types))


class ResyncRequired(Exception):
    """The client is too far behind for a replay: it must re-read its state."""


async def stream_events(
    database: Database,
    hub: LiveHub,
    user: UserIdentity,
    wanted: StreamFilter,
    last_event_id: int | None,
) -> AsyncGenerator[dict[str, Any]]:
    """Envelopes: ``subscribed``, the replay after ``last_event_id`` (none without it), then live
    events until the hub closes; ends with ``resync_required`` when the client is too far
    behind or reads too slowly, raises AccessRevoked when the user's access is gone.

    ``user`` was just authenticated: its ``token_version`` is the credential's."""
    subscription = await hub.subscribe(user.id, user.token_version)
    try:
        if last_event_id is None:
            # "From now on" is this id, read after registering: nothing already in the journal
            # (even if the feed is a poll behind), every later id (the feed pushes those).
            async with database.session_scope() as session:
                sent = await repository.newest_id(session)
        else:
            sent = last_event_id
        yield control_envelope(Control.SUBSCRIBED, {"last_event_id": last_event_id})
        if last_event_id is not None:
            try:
                async for event in _replay(database, subscription, wanted, last_event_id):
                    yield event_envelope(event)
            except ResyncRequired as reason:
                yield _resync(str(reason))
                return
        sent = max(sent, subscription.start_after)
        while not subscription.closed:
            batch = await subscription.next_batch()
            if subscription.overflowed:
                yield _resync("the client reads too slowly")
                return
            for event in batch:
                if event.id > sent and wanted.matches(event):
                    yield event_envelope(event)
                sent = max(sent, event.id)
    finally:
        hub.unsubscribe(subscription)


def _resync(reason: str) -> dict[str, Any]:
    return control_envelope(Control.RESYNC_REQUIRED, {"reason": reason})


async def _replay(
    database: Database, subscription: Subscription, wanted: StreamFilter, after_id: int
) -> AsyncIterator[Event]:
    """The user's journal in ``(after_id, start_after]``, page by page (a short transaction each,
    none held while the client reads)."""
    up_to = subscription.start_after
    async with database.session_scope() as session:
        oldest = await repository.oldest_id(session)
    if oldest is not None and 0 < after_id < oldest - 1 and after_id < up_to:
        raise ResyncRequired("the events after last_event_id were pruned")
    replayed = 0
    while after_id < up_to:
        async with database.session_scope() as session:
            page = await repository.user_events_between(
                session,
                subscription.user_id,
                after_id=after_id,
                up_to_id=up_to,
                bot_ids=wanted.bot_ids,
                types=wanted.types,
                limit=REPLAY_PAGE,
            )
        replayed += len(page)
        if replayed > MAX_REPLAY_EVENTS:
            raise ResyncRequired(f"more than {MAX_REPLAY_EVENTS} events to replay")
        for event in page:
            yield event
        if len(page) < REPLAY_PAGE:
            return
        after_id = page[-1].id


def parse_last_event_id(header: str | None, query: int | None) -> int | None:
    """The resume point of an SSE client: the ``Last-Event-ID`` header (a browser's reconnect)
    wins over the ``last_event_id`` query parameter (a first connect). The header is an event
    id's digits: the route checks it against ``schemas.LAST_EVENT_ID_PATTERN`` (a 422 before
    this), as its documented schema says."""
    return query if header is None else int(header)
