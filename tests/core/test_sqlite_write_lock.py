"""SQLite (the embedded default): a ``SELECT ... FOR UPDATE`` holds the database's write lock
from the read on, as the row lock it stands for does on PostgreSQL. Without it, a request's
read-change-write of a bot interleaved with the worker's: the owner's stop wrote back the state
it had read, undoing what the runtime stored meanwhile.

Deterministic: the other writer's connection waits no time for a lock (``busy_timeout`` 0), so
"it would have waited" shows as "database is locked" at once."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import controls
from autogrid.bots import repository as bot_rows
from autogrid.bots import service as bots
from autogrid.bots.state import load_state, store_state
from autogrid.core.db import Database
from autogrid.models import Bot, User
from tests.support.factories import make_bot, make_user


async def impatient(session: AsyncSession) -> None:
    """This session's connection gives up on a held lock at once."""
    await session.execute(text("PRAGMA busy_timeout = 0"))


async def note_price(db: Database, bot_id: uuid.UUID, price: str, *, wait: bool) -> None:
    """What the runtime's step does at its end: the row locked, its state changed, written."""
    async with db.session_scope() as session:
        if not wait:
            await impatient(session)
        bot = await bot_rows.lock_bot_row(session, bot_id)
        assert bot is not None
        state = load_state(bot)
        state.last_price = price
        store_state(bot, state)


async def test_a_for_update_read_holds_the_write_lock_until_its_transaction_ends(
    sqlite_db: Database,
) -> None:
    bot_id = await make_bot(sqlite_db, await make_user(sqlite_db))
    async with sqlite_db.session_scope() as holder:
        assert await bot_rows.lock_bot_row(holder, bot_id) is not None
        async with sqlite_db.session_scope() as other:
            await impatient(other)
            with pytest.raises(OperationalError, match="database is locked"):
                await other.execute(update(Bot).where(Bot.id == bot_id).values(name="other"))
    # Released at the commit: the same write goes through now.
    async with sqlite_db.session_scope() as other:
        await other.execute(update(Bot).where(Bot.id == bot_id).values(name="other"))
        assert await other.scalar(select(Bot.name).where(Bot.id == bot_id)) == "other"


async def test_the_owners_stop_and_the_runtimes_write_do_not_undo_each_other(
    sqlite_db: Database,
) -> None:
    user_id = await make_user(sqlite_db)
    bot_id = await make_bot(sqlite_db, user_id)
    async with sqlite_db.session_scope() as session:
        user = await session.get(User, user_id)
        assert user is not None
        # The stop's read (as ``stop_bot`` begins): from here the runtime cannot write the bot
        # until the stop is stored, or the stop would write back the state it read.
        await bots.get_bot(session, user, bot_id, for_update=True)
        with pytest.raises(OperationalError, match="database is locked"):
            await note_price(sqlite_db, bot_id, "101", wait=False)
        await controls.stop_bot(session, user, bot_id)
    await note_price(sqlite_db, bot_id, "102", wait=True)

    async with sqlite_db.session_scope() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None
        state = load_state(bot)
    assert bot.status == "stopping"
    assert state.stop_request is not None and state.last_price == "102"  # both kept


async def test_a_transaction_that_wrote_already_takes_no_second_lock(sqlite_db: Database) -> None:
    # The driver opened the transaction at its first write and holds the lock: a FOR UPDATE
    # read after it must not try to begin again ("cannot start a transaction within one").
    bot_id = await make_bot(sqlite_db, await make_user(sqlite_db))
    async with sqlite_db.session_scope() as session:
        await session.execute(update(Bot).where(Bot.id == bot_id).values(name="renamed"))
        bot = await bot_rows.lock_bot_row(session, bot_id)
        assert bot is not None and bot.name == "renamed"
