"""A commit that wrote events wakes the live feeds; a rollback, or a commit without events, does
not; neither ever waits for Redis."""

from __future__ import annotations

import asyncio

import pytest

from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.events.journal import record_event
from autogrid.events.types import EventType
from autogrid.live.wakeup import announcer
from tests.live.conftest import add_user, eventually


class _Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


async def _settle() -> None:
    """Let callbacks already scheduled on this loop run (no waiting on time)."""
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize("commit", [True, False])
async def test_only_committed_events_wake_the_feeds(database: Database, commit: bool) -> None:
    user_id = await add_user(database)
    wakes = _Wakes()
    announcer.add_listener(wakes)
    try:
        async with database.sessionmaker() as session:
            record_event(
                session, user_id=user_id, bot_id=None, type=EventType.KILL_SWITCH_ENGAGED,
                message="halt", at=utcnow(),
            )  # fmt: skip
            await session.flush()
            if commit:
                await session.commit()
            else:
                await session.rollback()
        if commit:
            await eventually(lambda: wakes.count == 1)
        else:
            await _settle()
            assert wakes.count == 0
        async with database.session_scope():
            pass  # a later commit without events announces nothing
        await _settle()
        assert wakes.count == (1 if commit else 0)
    finally:
        announcer.remove_listener(wakes)
