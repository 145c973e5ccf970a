"""A read route's session (``ReadSessionDep``) runs without a transaction, so a write through it
would commit statement by statement: it is refused, whether flushed or sent as a statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from autogrid.api.deps import WriteOnReadSession, get_read_session
from autogrid.core.db import Database
from autogrid.models import User


@asynccontextmanager
async def read_session(database: Database) -> AsyncIterator[AsyncSession]:
    """The dependency as a route gets it, for an app whose database is ``database``."""
    request = Request({"type": "http", "app": SimpleNamespace(state=SimpleNamespace(db=database))})
    sessions = get_read_session(request)
    yield await anext(sessions)
    await sessions.aclose()


async def test_a_read_session_reads_and_refuses_every_write(database: Database) -> None:
    async with database.session_scope() as session:
        session.add(User(email="reader@example.com", password_hash="x"))
    async with read_session(database) as read:
        assert await read.scalar(select(func.count()).select_from(User)) == 1
        with pytest.raises(WriteOnReadSession):
            await read.execute(update(User).values(plan="pro"))
        read.add(User(email="writer@example.com", password_hash="x"))
        with pytest.raises(WriteOnReadSession):
            await read.flush()
        read.expunge_all()
    async with database.session_scope() as session:
        users = (await session.scalars(select(User.email).order_by(User.email))).all()
        plans = (await session.scalars(select(User.plan))).all()
    assert users == ["reader@example.com"]
    assert plans == ["free"]


async def test_a_plain_request_session_still_writes(database: Database) -> None:
    async with database.session_scope() as session:
        session.add(User(email="writer@example.com", password_hash="x"))
        await session.flush()
        await session.execute(update(User).values(plan="pro"))
    async with database.session_scope() as session:
        assert (await session.scalars(select(User.plan))).all() == ["pro"]


async def test_a_read_session_connects_at_its_first_statement_and_gives_the_connection_back(
    database: Database,
) -> None:
    pool = database.engine.sync_engine.pool
    async with read_session(database) as read:
        busy = pool.checkedout()
        assert await read.scalar(select(func.count()).select_from(User)) == 0
        assert pool.checkedout() == busy + 1
    assert pool.checkedout() == busy
