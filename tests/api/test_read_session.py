"""A read route's database access (``ReadConnectionDep``) runs without a transaction, so a write
through it would commit statement by statement: it is refused, whatever the statement. Each
statement takes a pooled connection and gives it back as soon as its rows are read: none is held
between statements or left to close after the route, whether the read succeeds, fails or is
cancelled."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, String, bindparam, cast, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from starlette.requests import Request

from autogrid.api.deps import get_read_connection
from autogrid.core import driver_reads
from autogrid.core.config import Settings
from autogrid.core.db import Database, ReadConnection, WriteOnReadConnection
from autogrid.models import User
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot, grid_body
from tests.helpers import ApiUser

COUNT = select(func.count()).select_from(User)
NUMBER = select(cast(bindparam("text", type_=String), Integer).label("number"))
PID = select(func.pg_backend_pid().label("pid"))
SLEEP = select(func.pg_sleep(bindparam("seconds", type_=Integer)).label("slept"))


async def read_connection(database: Database) -> ReadConnection:
    """The dependency as a route gets it, for an app whose database is ``database``."""
    request = Request({"type": "http", "app": SimpleNamespace(state=SimpleNamespace(db=database))})
    return await get_read_connection(request)


def checked_out(database: Database) -> int:
    pool: Any = database.engine.sync_engine.pool  # a queue pool: it counts what is out
    count: int = pool.checkedout()
    return count


async def test_a_read_connection_reads_and_refuses_every_write(database: Database) -> None:
    async with database.session_scope() as session:
        session.add(User(email="reader@example.com", password_hash="x"))
    reads = await read_connection(database)
    assert await reads.scalar(COUNT, {}) == 1
    assert [tuple(row) for row in await reads.rows(COUNT, {})] == [(1,)]
    for write in (
        update(User).values(plan="pro"),
        insert(User).values(email="writer@example.com", password_hash="x"),
        delete(User),
        text("UPDATE users SET plan = 'pro'"),
    ):
        with pytest.raises(WriteOnReadConnection):
            await reads.scalar(write, {})
        with pytest.raises(WriteOnReadConnection):
            await reads.rows(write, {})  # type: ignore[arg-type]
    async with database.session_scope() as session:
        users = (await session.scalars(select(User.email).order_by(User.email))).all()
        plans = (await session.scalars(select(User.plan))).all()
    assert users == ["reader@example.com"]
    assert plans == ["free"]


async def test_the_other_sessions_still_write(database: Database) -> None:
    reads = await read_connection(database)  # its refusal is its own
    await reads.scalar(COUNT, {})
    async with database.session_scope() as session:
        session.add(User(email="writer@example.com", password_hash="x"))
        await session.flush()
        await session.execute(update(User).values(plan="pro"))
    async with database.statement_scope() as session:  # the autocommit scope writes too
        await session.execute(update(User).values(plan="starter"))
    async with database.session_scope() as session:
        assert (await session.scalars(select(User.plan))).all() == ["starter"]


async def test_one_read_connection_per_database_holding_none(database: Database) -> None:
    reads = await read_connection(database)
    assert await read_connection(database) is reads
    busy = checked_out(database)
    for _ in range(3):  # learnt through SQLAlchemy, then (PostgreSQL) on the driver
        assert [row.number for row in await reads.rows(NUMBER, {"text": "7"})] == [7]
        assert checked_out(database) == busy
    assert await reads.scalar(COUNT, {}) == 0
    assert checked_out(database) == busy


async def test_a_failed_read_gives_its_connection_back(db: Database) -> None:
    reads = await read_connection(db)
    busy = checked_out(db)
    for _ in range(3):  # SQLAlchemy's run, then the driver's (its failure run again)
        assert [row.number for row in await reads.rows(NUMBER, {"text": "1"})] == [1]
        with pytest.raises(DBAPIError, match="invalid input syntax"):
            await reads.rows(NUMBER, {"text": "one"})
        assert checked_out(db) == busy
        with pytest.raises(DBAPIError, match="invalid input syntax"):
            await reads.scalar(NUMBER, {"text": "one"})
        assert checked_out(db) == busy
    assert [row.number for row in await reads.rows(NUMBER, {"text": "2"})] == [2]


async def _cancelled_while_running(
    database: Database, reads: ReadConnection, watcher: Database
) -> None:
    """A read cancelled while the server runs its statement."""
    busy = checked_out(database)
    read = asyncio.create_task(reads.rows(SLEEP, {"seconds": 30}))
    async with watcher.statement_scope() as session:
        while not await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'")
        ):
            await asyncio.sleep(0.01)
    assert checked_out(database) == busy + 1
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert checked_out(database) == busy


def one_connection(settings: Settings) -> Database:
    """A database whose pool holds one connection: each read uses the one the last one did."""
    engine = create_async_engine(settings.database_url, pool_size=1, max_overflow=0)
    return Database(engine, async_sessionmaker(engine))


async def test_the_drivers_reads_keep_their_connection(settings: Settings) -> None:
    """Given back without I/O (none to do in autocommit), not invalidated: the same server
    process answers each read."""
    database = one_connection(settings)
    try:
        pids = [(await database.reads.rows(PID, {}))[0].pid for _ in range(4)]
        assert driver_reads._known(PID, database.engine.dialect)[1] is not None
        assert len(set(pids)) == 1
        assert checked_out(database) == 0
    finally:
        await database.dispose()


async def test_a_dropped_connection_fails_its_read_and_is_replaced(settings: Settings) -> None:
    database = one_connection(settings)
    watcher = Database.from_settings(settings, pooled=False)
    try:
        reads = database.reads
        await reads.rows(PID, {})
        dropped = (await reads.rows(PID, {}))[0].pid  # on the driver
        async with watcher.statement_scope() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
        with pytest.raises(DBAPIError) as failed:
            await reads.rows(PID, {})  # the driver's failure, run again by SQLAlchemy
        assert failed.value.connection_invalidated
        assert checked_out(database) == 0
        assert (await reads.rows(PID, {}))[0].pid != dropped
        assert driver_reads._known(PID, database.engine.dialect)[1] is not None  # not its fault
    finally:
        await database.dispose()
        await watcher.dispose()


async def test_a_cancelled_read_gives_its_connection_back_and_the_pool_reads_on(
    settings: Settings,
) -> None:
    database = one_connection(settings)
    watcher = Database.from_settings(settings, pooled=False)
    try:
        reads = database.reads
        await reads.rows(SLEEP, {"seconds": 0})  # learnt: the next runs are the driver's
        assert driver_reads._known(SLEEP, database.engine.dialect)[1] is not None
        for _ in range(2):
            await _cancelled_while_running(database, reads, watcher)
            for _ in range(2):
                assert [row.number for row in await reads.rows(NUMBER, {"text": "3"})] == [3]
    finally:
        await database.dispose()
        await watcher.dispose()


async def test_read_routes_leave_no_connection_out_whatever_they_answer(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_replay_candles(db)
    bot = await create_bot(client, user, grid_body())
    database: Database = app.state.db
    for path, status in [
        ("/api/v1/bots", 200),
        ("/api/v1/bots?offset=50", 200),  # past the end: counted on its own
        ("/api/v1/bots?status=stopped", 200),  # an expanding IN: SQLAlchemy's
        ("/api/v1/bots?limit=0", 422),
        (f"/api/v1/bots/{bot['id']}", 200),
        (f"/api/v1/bots/{uuid.uuid4()}", 404),
        (f"/api/v1/bots/{bot['id']}/orders", 200),
        (f"/api/v1/bots/{uuid.uuid4()}/orders", 404),
    ]:
        for _ in range(2):  # SQLAlchemy's first run, then the driver's
            assert (await client.get(path, headers=user.headers)).status_code == status, path
            assert checked_out(database) == 0, path


async def test_a_cancelled_read_request_gives_its_connection_back(
    app: FastAPI, client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_replay_candles(db)
    await create_bot(client, user, grid_body())
    database: Database = app.state.db
    for learnt in (False, True):  # cancelled in SQLAlchemy's run, then in the driver's
        async with db.session_scope() as session:
            await session.execute(text("LOCK TABLE bots IN ACCESS EXCLUSIVE MODE"))
            request = asyncio.create_task(client.get("/api/v1/bots", headers=user.headers))
            async with db.statement_scope() as watcher:
                while not await watcher.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT%bots%'"
                    )
                ):
                    await asyncio.sleep(0.01)
            assert checked_out(database) == 1, learnt
            request.cancel()
            with pytest.raises(asyncio.CancelledError):
                await request
            assert checked_out(database) == 0, learnt
        assert (await client.get("/api/v1/bots", headers=user.headers)).status_code == 200
        assert checked_out(database) == 0
