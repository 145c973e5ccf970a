"""Property: however events interleave across a user's bots (and another user's), walking
``GET /events`` pages from any cursor with any page size and filters reads exactly the matching
events of the user, each once, in id order, and ends."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events import service
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.models import User
from tests.support.factories import make_bot, make_user

TYPES = [EventType.FILL, EventType.ORDER_FILLED, EventType.DEAL_CLOSED]
# (whose bot: 0-2 the user's, 3 another user's; which type)
writes = st.lists(st.tuples(st.integers(0, 3), st.sampled_from(TYPES)), max_size=25)
filters = st.tuples(
    st.integers(1, 6),  # page size
    st.none() | st.integers(0, 2),  # only this bot of the user's
    st.lists(st.sampled_from(TYPES), max_size=2, unique=True),  # only these types
)


async def walk(
    database: Database,
    written: list[tuple[int, EventType]],
    query: tuple[int, int | None, list[EventType]],
) -> None:
    limit, only_bot, types = query
    owner, stranger = await make_user(database), await make_user(database)
    bots = [await make_bot(database, owner) for _ in range(3)] + [
        await make_bot(database, stranger)
    ]
    expected: list[int] = []
    async with database.session_scope() as session:
        for n, (which, type) in enumerate(written):
            user_id = stranger if which == 3 else owner
            event = record_event(
                session, user_id=user_id, bot_id=bots[which], type=type, message=str(n), at=utcnow()
            )
            await session.flush()
            if (
                which != 3
                and (only_bot is None or which == only_bot)
                and (not types or type in types)
            ):
                expected.append(event.id)
    async with database.session_scope() as session:
        user = await session.get(User, owner)
        assert user is not None
        seen: list[int] = []
        after = 0
        for _ in range(len(written) + 2):
            page = await service.list_events(
                session,
                user,
                after_id=after,
                limit=limit,
                bot_id=None if only_bot is None else bots[only_bot],
                types=types,
            )
            seen += [event.id for event in page.events]
            after = page.next_after_id
            if not page.has_more:
                break
        else:
            raise AssertionError("the cursor never reached the end")
    assert seen == expected


# Each example writes under users of its own, so the fixtures need no reset between examples
# (``db`` only truncates everything once the test ends).
@examples(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes, filters)
def test_cursor_pages_read_every_matching_event_once_in_order(
    db: Database,
    settings: Settings,
    written: list[tuple[int, EventType]],
    query: tuple[int, int | None, list[EventType]],
) -> None:
    async def run() -> None:
        database = Database.from_settings(settings, pooled=False)
        try:
            await walk(database, written, query)
        finally:
            await database.dispose()

    asyncio.run(run())
