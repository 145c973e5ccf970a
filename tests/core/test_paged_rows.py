"""A list page and its total: the same answers as a count and a page, in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from autogrid.core.db import Database
from autogrid.core.paged_rows import page_and_total
from autogrid.models import User


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)


@pytest.mark.parametrize(
    ("limit", "offset", "emails", "queries"),
    [
        (2, 0, ["a@example.com", "b@example.com"], 1),
        (2, 2, ["c@example.com"], 1),
        # Past the end no row carries the total: it is counted on its own.
        (2, 5, [], 2),
    ],
)
async def test_a_page_and_the_total_of_every_matching_row(
    database: Database, limit: int, offset: int, emails: list[str], queries: int
) -> None:
    async with database.session_scope() as session:
        for email in ("c@example.com", "a@example.com", "b@example.com"):
            session.add(User(id=uuid.uuid4(), email=email, password_hash="x"))
    async with database.session_scope() as session:
        with statements(database) as seen:
            rows, total = await page_and_total(
                session, select(User), [User.email.asc()], limit=limit, offset=offset
            )
    assert [user.email for user in rows] == emails
    assert total == 3
    assert len(seen) == queries


async def test_no_matching_row_is_a_total_of_zero(database: Database) -> None:
    async with database.session_scope() as session:
        query = select(User).where(User.email == "nobody@example.com")
        assert await page_and_total(session, query, [User.email.asc()], limit=5, offset=0) == (
            [],
            0,
        )
