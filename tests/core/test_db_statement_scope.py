"""``statement_scope``: each statement is committed as it runs, on PostgreSQL and SQLite, and the
connection goes back to the pool with transactions as before."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import DBAPIError

from autogrid.core.db import Database
from autogrid.models import User
from tests.support.factories import make_user


async def email_of(database: Database, user_id: object) -> str | None:
    async with database.session_scope() as session:
        return await session.scalar(select(User.email).where(User.id == user_id))


async def test_each_statement_is_committed_as_it_runs(database: Database) -> None:
    user_id = await make_user(database)

    with pytest.raises(DBAPIError):
        async with database.statement_scope() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(email="kept@example.com")
            )
            await session.execute(select(func.nonexistent_function()))

    assert await email_of(database, user_id) == "kept@example.com"  # not rolled back


async def test_a_session_scope_after_it_still_rolls_back(database: Database) -> None:
    user_id = await make_user(database)
    async with database.statement_scope() as session:
        await session.execute(select(User.id))

    with pytest.raises(RuntimeError):
        async with database.session_scope() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(email="gone@example.com")
            )
            raise RuntimeError("the unit of work fails")

    assert await email_of(database, user_id) != "gone@example.com"
