"""The clean slate each test starts from (``tests.infra.empty_all_tables``, run after every test
that used the database): no rows left anywhere, and numbered ids from 1 again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from autogrid.core.db import Database
from autogrid.models import Base, Event
from tests.infra import empty_all_tables
from tests.support.factories import make_bot, make_user


async def _add_event(db: Database, user_id: object) -> int:
    async with db.session_scope() as session:
        event = Event(user_id=user_id, type="test", message="m", created_at=datetime.now(UTC))
        session.add(event)
        await session.flush()
        return event.id


async def test_every_table_is_emptied_and_numbered_ids_start_again(db: Database) -> None:
    user_id = await make_user(db)
    await make_bot(db, user_id)
    await _add_event(db, user_id)
    assert await _add_event(db, user_id) == 2

    await empty_all_tables(db)

    async with db.session_scope() as session:
        for table in Base.metadata.sorted_tables:
            rows = await session.scalar(select(func.count()).select_from(table))
            assert rows == 0, table.name
    assert await _add_event(db, await make_user(db)) == 1
