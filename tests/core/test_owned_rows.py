"""A page of a user's named rows (credentials, channels) and their total, in one statement."""

from __future__ import annotations

import uuid
from datetime import timedelta

from autogrid.core.db import Database
from autogrid.core.owned_rows import list_for_user
from autogrid.core.sqltypes import utcnow
from autogrid.models import NotificationChannel, User
from tests.core.test_paged_rows import statements


def _channel(user_id: uuid.UUID, label: str, minutes: int) -> NotificationChannel:
    at = utcnow() + timedelta(minutes=minutes)
    return NotificationChannel(
        id=uuid.uuid4(),
        user_id=user_id,
        kind="webhook",
        label=label,
        state="active",
        target_masked="https://example.com/***",
        config_ciphertext=b"x",
        key_version=1,
        event_types=[],
        min_severity="info",
        all_bots=True,
        created_at=at,
        updated_at=at,
    )


async def test_a_page_of_a_users_rows_and_their_total_is_one_statement(
    database: Database,
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    async with database.session_scope() as session:
        for user_id in (owner, other):
            session.add(User(id=user_id, email=f"{user_id}@example.com", password_hash="x"))
        await session.flush()
        for minutes, label in enumerate(("a", "b", "c")):
            session.add(_channel(owner, label, minutes))
        session.add(_channel(other, "theirs", 0))
    async with database.session_scope() as session:
        with statements(database) as seen:
            rows, total = await list_for_user(session, NotificationChannel, owner, 2, 1)
    assert [row.label for row in rows] == ["b", "c"]
    assert total == 3
    assert len(seen) == 1
