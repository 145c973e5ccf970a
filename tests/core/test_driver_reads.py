"""A read route's SELECTs on the driver itself (``read_rows``, ``pooled_rows``): the rows
SQLAlchemy gives, the values of each run, SQLAlchemy's errors, and SQLAlchemy itself wherever no
plan applies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import Integer, String, bindparam, cast, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from autogrid.bots import repository
from autogrid.bots.schemas import bot_read
from autogrid.core import driver_reads
from autogrid.core.db import Database
from autogrid.core.driver_reads import read_rows
from tests.bots.conftest import store_replay_candles
from tests.bots.factories import create_bot, grid_body, set_status
from tests.helpers import ApiUser, register_user

PAGE = repository._bots_page(False, False, None).page
FILTERED = repository._bots_page(True, False, None).page  # an expanding IN: no plan


def _page(user: ApiUser, limit: int = 10, offset: int = 0) -> dict[str, Any]:
    return {"user_id": user.id, "page_limit": limit, "page_offset": offset}


async def _sqlalchemy_only(*_: Any, **__: Any) -> None:
    raise AssertionError("run through SQLAlchemy")


@asynccontextmanager
async def autocommit(database: Database) -> AsyncIterator[AsyncConnection]:
    engine = database.engine.execution_options(isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        yield connection


def _planned(statement: Any, database: Database) -> bool:
    _, plan = driver_reads._known(statement, database.engine.dialect)
    return plan is not None


async def test_the_drivers_rows_are_sqlalchemys(
    client: httpx.AsyncClient, user: ApiUser, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every column kind a read returns (ids, money, aware times, JSON, nulls), equal and of the
    same types, as rows that read as SQLAlchemy's do."""
    await store_replay_candles(db)  # a paper bot's market
    await create_bot(client, user, grid_body(name="a"))
    failed = await create_bot(client, user, grid_body(name="b"))
    await set_status(db, failed["id"], "error", error="boom", investment=Decimal("1234.5000"))
    reads = db.reads
    learnt = await reads.rows(PAGE, _page(user))
    assert _planned(PAGE, db)  # fails if SQLAlchemy's internals no longer give a plan
    monkeypatch.setattr(AsyncConnection, "execute", _sqlalchemy_only)
    driven = await reads.rows(PAGE, _page(user))
    async with autocommit(db) as connection:  # a connection's own reads, as a route's
        assert [tuple(row) for row in await read_rows(connection, PAGE, _page(user))] == [
            tuple(row) for row in driven
        ]

    assert len(learnt) == 2
    assert all(isinstance(row, Row) for row in driven)
    assert [tuple(row) for row in driven] == [tuple(row) for row in learnt]
    for mine, theirs in zip(driven, learnt, strict=True):
        assert [type(value) for value in mine] == [type(value) for value in theirs]
        # repr: equal Decimals may differ in their digits (NUMERIC pads, Money normalises).
        assert [repr(value) for value in mine] == [repr(value) for value in theirs]
        assert mine._fields == theirs._fields
        assert dict(mine._mapping) == dict(theirs._mapping)
        assert (mine.page_total, mine.investment) == (theirs.page_total, theirs.investment)
        assert bot_read(mine) == bot_read(theirs)


async def test_each_run_binds_its_own_values(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    await store_replay_candles(db)
    other = await register_user(client, "other@example.com")
    mine = [await create_bot(client, user, grid_body(name=f"mine {n}")) for n in range(3)]
    theirs = await create_bot(client, other, grid_body(name="theirs"))
    reads = db.reads
    await reads.rows(PAGE, _page(user))
    assert _planned(PAGE, db)
    by_user = {
        name: [str(row.id) for row in await reads.rows(PAGE, values)]
        for name, values in {
            "mine": _page(user),
            "theirs": _page(other),
            "second page": _page(user, limit=2, offset=2),
        }.items()
    }
    one = await reads.rows(repository._OWNED_BOT_READ, {"bot_id": theirs["id"], "user_id": user.id})

    assert by_user == {
        "mine": [bot["id"] for bot in reversed(mine)],
        "theirs": [theirs["id"]],
        "second page": [mine[0]["id"]],
    }
    assert one == []


NUMBER = select(cast(bindparam("text", type_=String), Integer).label("number"))


async def test_a_failed_read_raises_sqlalchemys_error(db: Database) -> None:
    reads = db.reads
    assert [row.number for row in await reads.rows(NUMBER, {"text": "7"})] == [7]
    assert _planned(NUMBER, db)
    with pytest.raises(DBAPIError, match="invalid input syntax"):
        await reads.rows(NUMBER, {"text": "seven"})
    # It reads on, on the driver again.
    assert [row.number for row in await reads.rows(NUMBER, {"text": "8"})] == [8]
    assert _planned(NUMBER, db)
    async with autocommit(db) as connection:  # a connection's own reads too
        with pytest.raises(DBAPIError, match="invalid input syntax"):
            await read_rows(connection, NUMBER, {"text": "seven"})
        assert [row.number for row in await read_rows(connection, NUMBER, {"text": "9"})] == [9]


async def test_a_driver_that_fails_leaves_the_read_to_sqlalchemy(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """And, SQLAlchemy running what the driver failed, the statement's plan is forgotten with
    a warning: its reads do not go on paying two attempts unseen."""
    reads = db.reads
    await reads.rows(NUMBER, {"text": "1"})
    attempts = 0

    async def refused(*_: Any) -> None:
        nonlocal attempts
        attempts += 1
        raise ConnectionResetError("gone")

    monkeypatch.setattr(asyncpg.Connection, "fetch", refused)  # SQLAlchemy prepares instead
    with caplog.at_level("WARNING", logger=driver_reads.__name__):
        assert [row.number for row in await reads.rows(NUMBER, {"text": "2"})] == [2]
    assert attempts == 1 and not _planned(NUMBER, db)
    assert "runs through SQLAlchemy from now on" in caplog.text
    assert [row.number for row in await reads.rows(NUMBER, {"text": "3"})] == [3]
    assert attempts == 1  # SQLAlchemy's alone


async def test_sqlalchemy_runs_what_has_no_plan(
    client: httpx.AsyncClient, user: ApiUser, db: Database, sqlite_db: Database
) -> None:
    """A statement with expanding parameters, a session's transaction, SQLite: as before."""
    await store_replay_candles(db)
    await create_bot(client, user, grid_body())
    values = {**_page(user), "statuses": ["stopped"]}
    for _ in range(2):
        assert len(await db.reads.rows(FILTERED, values)) == 1
    assert driver_reads._known(FILTERED, db.engine.dialect) == (True, None)
    statement = select(bindparam("one", type_=Integer).label("one"))
    async with db.session_scope() as session:
        connection = await session.connection()
        for _ in range(2):
            assert [row.one for row in await read_rows(connection, statement, {"one": 1})] == [1]
    assert driver_reads._known(statement, db.engine.dialect) == (False, None)
    for _ in range(2):
        assert len(await sqlite_db.reads.rows(PAGE, _page(user))) == 0
    assert driver_reads._known(PAGE, sqlite_db.engine.dialect) == (True, None)


async def test_the_plans_are_bounded(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(driver_reads, "MAX_PLANS", 2)
    monkeypatch.setattr(driver_reads, "_plans", {})
    statements = [select(bindparam("n", type_=Integer).label(f"n{n}")) for n in range(3)]
    for number, statement in enumerate(statements):
        assert [tuple(row) for row in await db.reads.rows(statement, {"n": number})] == [(number,)]
    assert len(driver_reads._plans) == 1  # forgotten at the third, which is remembered
    assert _planned(statements[2], db)
