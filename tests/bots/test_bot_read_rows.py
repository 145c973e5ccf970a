"""The bot list and detail read Core rows, not ORM objects: each bot reads exactly as its ORM
object does (grid and DCA, recurring buys and their memory, stopped and running)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event, select

from autogrid.bots import repository
from autogrid.bots.schemas import bot_read
from autogrid.core.db import Database
from autogrid.models import Bot
from tests.bots.factories import create_bot, grid_body, set_status
from tests.bots.test_recurring_buys import buys_only
from tests.helpers import ApiUser


async def test_a_bot_row_reads_as_its_orm_object(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    grid = await create_bot(client, user, grid_body())
    dca = await create_bot(client, user, buys_only())
    memory = {"settled_through": "2026-03-16T08:00:00+00:00", "buys": 2, "missed": 1}
    started = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    await set_status(db, dca["id"], "running", started_at=started, state={"recurring_buys": memory})
    await set_status(db, grid["id"], "error", error="boom", state={"last_price": "1"})

    async with db.session_scope() as session:
        objects = {bot.id: bot for bot in (await session.scalars(select(Bot))).all()}
        owner = user.id
        rows, total = await repository.list_bots(
            session, owner, statuses=(), types=(), limit=10, offset=0
        )
        assert total == 2
        assert [row.id for row in rows] == [uuid.UUID(dca["id"]), uuid.UUID(grid["id"])]
        for row in rows:
            assert bot_read(row) == bot_read(objects[row.id])
            one = await repository.read_bot(session, owner, row.id)
            assert one is not None
            assert bot_read(one) == bot_read(objects[row.id])
        assert await repository.read_bot(session, uuid.uuid4(), rows[0].id) is None


async def test_a_grid_bots_state_is_not_read(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """A running grid's state is large and its read shows none of it: it stays in the table."""
    grid = await create_bot(client, user, grid_body())
    await set_status(db, grid["id"], "running", state={"last_price": "1", "ledger": {}})

    async with db.session_scope() as session:
        rows, _ = await repository.list_bots(
            session, user.id, statuses=(), types=(), limit=10, offset=0
        )
        one = await repository.read_bot(session, user.id, uuid.UUID(grid["id"]))

    assert [row.state for row in rows] == [None]
    assert one is not None
    assert one.state is None


async def test_the_reads_statements_are_rendered_once_not_at_every_run(
    client: httpx.AsyncClient, user: ApiUser, db: Database
) -> None:
    """No expanding parameter (a list in ``in_``) in the unfiltered list's or the detail's
    statement: SQLAlchemy renders such a statement's text anew at every run."""
    grid = await create_bot(client, user, grid_body())
    expanding: list[frozenset[object]] = []

    def remember(
        _conn: object, _cursor: object, _sql: str, _params: object, context: Any, *_: object
    ) -> None:
        expanding.append(context.compiled.post_compile_params)

    event.listen(db.engine.sync_engine, "after_cursor_execute", remember)
    try:
        async with db.session_scope() as session:
            rows, _ = await repository.list_bots(
                session, user.id, statuses=(), types=(), limit=10, offset=0
            )
            assert await repository.read_bot(session, user.id, uuid.UUID(grid["id"])) is not None
    finally:
        event.remove(db.engine.sync_engine, "after_cursor_execute", remember)

    assert len(rows) == 1
    assert expanding == [frozenset(), frozenset()]
