"""A read route's database access (``ReadConnectionDep``) runs without a transaction, so a write
through it would commit statement by statement: it is refused, whatever the statement."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from starlette.requests import Request

from autogrid.api.deps import get_read_connection
from autogrid.core.db import Database, ReadConnection, WriteOnReadConnection
from autogrid.models import User


@asynccontextmanager
async def read_connection(database: Database) -> AsyncIterator[ReadConnection]:
    """The dependency as a route gets it, for an app whose database is ``database``."""
    request = Request({"type": "http", "app": SimpleNamespace(state=SimpleNamespace(db=database))})
    reads = cast(AsyncGenerator[ReadConnection, None], get_read_connection(request))
    yield await anext(reads)
    await reads.aclose()


async def test_a_read_connection_reads_and_refuses_every_write(database: Database) -> None:
    async with database.session_scope() as session:
        session.add(User(email="reader@example.com", password_hash="x"))
    async with read_connection(database) as reads:
        connection = await reads.connection()
        assert await connection.scalar(select(func.count()).select_from(User)) == 1
        for write in (
            update(User).values(plan="pro"),
            insert(User).values(email="writer@example.com", password_hash="x"),
            delete(User),
            text("UPDATE users SET plan = 'pro'"),
        ):
            with pytest.raises(WriteOnReadConnection):
                await connection.execute(write)
    async with database.session_scope() as session:
        users = (await session.scalars(select(User.email).order_by(User.email))).all()
        plans = (await session.scalars(select(User.plan))).all()
    assert users == ["reader@example.com"]
    assert plans == ["free"]


async def test_the_other_sessions_still_write(database: Database) -> None:
    async with read_connection(database) as reads:  # its refusal is its own
        await (await reads.connection()).scalar(select(func.count()).select_from(User))
    async with database.session_scope() as session:
        session.add(User(email="writer@example.com", password_hash="x"))
        await session.flush()
        await session.execute(update(User).values(plan="pro"))
    async with database.statement_scope() as session:  # the autocommit scope writes too
        await session.execute(update(User).values(plan="starter"))
    async with database.session_scope() as session:
        assert (await session.scalars(select(User.plan))).all() == ["starter"]


async def test_a_read_connection_connects_at_its_first_statement_and_gives_it_back(
    database: Database,
) -> None:
    pool: Any = database.engine.sync_engine.pool  # a queue pool: it counts what is out
    async with read_connection(database) as reads:
        busy = pool.checkedout()
        connection = await reads.connection()
        assert await reads.connection() is connection
        assert await connection.scalar(select(func.count()).select_from(User)) == 0
        assert pool.checkedout() == busy + 1
    assert pool.checkedout() == busy
