"""Database engine and sessions.

The request (or task) boundary owns the transaction: services only ``flush()``; ``session_scope``
and the FastAPI dependency commit on success and roll back on any exception, so an order row and
its bot state are never half-written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Executable, Select, event
from sqlalchemy.engine import Dialect, Row, make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from autogrid.core.config import Settings
from autogrid.core.driver_reads import pooled_rows, read_rows

logger = logging.getLogger(__name__)

# A database error's message would otherwise carry the statement's bound values (emails, labels,
# anything a client sent) into the logged traceback.
HIDE_PARAMETERS = True
# A pooled connection used again within this many seconds is trusted without a ping. A ping is
# three round trips with asyncpg (BEGIN, ";", ROLLBACK): on every checkout it cost an API read
# more than its own query. A connection that sat longer is pinged first, as before.
PING_AFTER_IDLE_SECONDS = 5.0


def pool_sizes(settings: Settings) -> dict[str, int]:
    """A process opens up to twice ``DATABASE_POOL_SIZE`` connections, as its load needs them,
    and keeps them: never more (what the README and ``.env.example`` promise to size the
    server's ``max_connections`` by). The second half used to be overflow, closed as it came
    back while the pool was full: under a burst of reads every few requests opened a connection
    (a server process started and its types set up) to close it a moment later, which cost a
    bot list read a fifth of its CPU at 32 requests in flight."""
    return {"pool_size": 2 * settings.database_pool_size, "max_overflow": 0}


_CHECKED_IN_AT = "autogrid_checked_in_at"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker writes; the busy timeout turns lock contention between
    # the embedded processes into a short wait instead of "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _write_lock_for_update(
    conn: Any, clauseelement: Any, _multiparams: Any, _params: Any, _options: Any
) -> None:
    """SQLite: a ``SELECT ... FOR UPDATE`` first takes the database's write lock (``BEGIN
    IMMEDIATE``), unless its transaction holds it already.

    SQLite has no row locks, and its driver opens a transaction only at the first write: the
    read a FOR UPDATE stands for was no lock at all there, so a request's read-change-write of
    a bot row could interleave with the worker's (the API's stop wrote back the state it had
    read, undoing a decision the runtime stored meanwhile; a PATCH racing a DELETE failed with
    a 500). Holding the write lock from the read on serialises them as the row lock does on
    PostgreSQL (a writer waits up to the busy timeout, as for any write)."""
    if getattr(clauseelement, "_for_update_arg", None) is None:
        return
    if conn.connection.driver_connection.in_transaction:
        # The driver opens a transaction at the first write, which took the lock (or at a
        # SAVEPOINT, which takes none: writes in it lock as they always did).
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(settings: Settings, *, pooled: bool = True) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, connect_args={"timeout": 15}, hide_parameters=HIDE_PARAMETERS
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "before_execute", _write_lock_for_update)
        return engine
    if not pooled:
        return create_async_engine(url, poolclass=NullPool, hide_parameters=HIDE_PARAMETERS)
    engine = create_async_engine(
        url,
        **pool_sizes(settings),
        pool_recycle=1800,
        hide_parameters=HIDE_PARAMETERS,
    )
    ping_connections_after_idle(engine)
    return engine


def ping_connections_after_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection at checkout only if it sat idle past ``PING_AFTER_IDLE_SECONDS``.

    A failed ping invalidates the whole pool (a restarted database dropped every connection) and
    the checkout goes on with a fresh connection, as ``pool_pre_ping`` does. A connection that
    died within the idle allowance fails its first statement instead; that error too invalidates
    the pool, so one request sees it, not every pooled connection in turn.
    """
    pool = engine.sync_engine.pool
    dialect: Dialect = engine.sync_engine.dialect

    def remember_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.pop(_CHECKED_IN_AT, None)
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise InvalidatePoolError(f"idle connection failed its ping: {error!r}") from error

    event.listen(pool, "checkin", remember_checkin)
    event.listen(pool, "checkout", ping_if_idle)


class WriteOnReadConnection(RuntimeError):
    """A write through a read-only connection (``Database.reads``)."""


def _refuse_writes(
    _connection: Any, statement: Any, _multiparams: Any, _params: Any, _options: Any
) -> None:
    if not getattr(statement, "is_select", False):
        raise WriteOnReadConnection("a write through a read-only connection")


class ReadConnection:
    """A route's reads, each statement on its own in autocommit (each its own snapshot under
    READ COMMITTED anyway) on a pooled connection taken for it and given back as soon as its
    rows are read, on the driver itself where it can be (``pooled_rows``); a write is refused.
    It holds no connection between statements, so it needs no closing: one per database, shared
    by every request. No ORM session around it: its bookkeeping cost a read ~95 Python calls,
    and reads build no objects; no connection held for the request either: taking it and giving
    it back through a scope that FastAPI closed (a generator dependency) cost a read more."""

    __slots__ = ("_engine",)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def rows(self, statement: Select[Any], values: Mapping[str, Any]) -> list[Row[Any]]:
        """``statement``'s rows with ``values`` bound."""
        return await pooled_rows(self._engine, statement, values)

    async def scalar(self, statement: Executable, values: Mapping[str, Any]) -> Any:
        """``statement``'s first column of its first row (None without a row)."""
        connection = await self._engine.connect()
        try:
            return await connection.scalar(statement, values)
        finally:
            await connection.close()


# What a repository's read runs on: a read route's ``ReadConnection``, or a session (its
# statements then run in the session's transaction).
Connectable = AsyncSession | ReadConnection


async def select_rows(
    reads: Connectable, statement: Select[Any], values: Mapping[str, Any]
) -> list[Row[Any]]:
    """``statement``'s rows with ``values`` bound: ``(await execute(...)).all()``."""
    if isinstance(reads, ReadConnection):
        return await reads.rows(statement, values)
    return await read_rows(await reads.connection(), statement, values)


@dataclass(slots=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # The engine's pool in autocommit, made at the first ``statement_scope``.
    _autocommit: AsyncEngine | None = field(default=None, repr=False, compare=False)
    # The same in autocommit and refusing writes, made at the first use of ``reads``.
    _reads: ReadConnection | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, pooled: bool = True) -> Database:
        engine = create_engine(settings, pooled=pooled)
        return cls(engine, async_sessionmaker(engine, expire_on_commit=False, autoflush=False))

    @asynccontextmanager
    async def session_scope(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit if the block succeeds, roll back if it raises."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            await _run_after_commit(session)

    @asynccontextmanager
    async def statement_scope(self) -> AsyncIterator[AsyncSession]:
        """Units of work of one statement each, each committed as it runs (autocommit): no
        BEGIN and COMMIT round trips around it. For reads (each statement its own snapshot under
        READ COMMITTED anyway) and for statements whole on their own, whose order is all that
        binds them (a claim, a batch stored by one UPDATE): nothing is rolled back if a later one
        fails, and no after-commit actions run. It takes a pooled connection at its first
        statement, not before, and gives it back when the block ends."""
        if self._autocommit is None:
            self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with AsyncSession(
            bind=self._autocommit, autoflush=False, expire_on_commit=False
        ) as session:
            yield session

    @property
    def reads(self) -> ReadConnection:
        """Reads only, each statement on its own as in ``statement_scope`` (no BEGIN and
        COMMIT), on a connection of the engine's pool taken for that statement alone; anything
        but a SELECT is refused (``WriteOnReadConnection``): it would commit at once."""
        if self._reads is None:
            engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
            event.listen(engine.sync_engine, "before_execute", _refuse_writes)
            self._reads = ReadConnection(engine)
        return self._reads

    async def dispose(self) -> None:
        await self.engine.dispose()


_AFTER_COMMIT = "after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], Awaitable[None]]) -> None:
    """Run ``callback`` once ``session_scope`` has committed this unit of work (never on a
    rollback): for effects outside the database that must not be seen before the commit."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


async def _run_after_commit(session: AsyncSession) -> None:
    callbacks: list[Callable[[], Awaitable[None]]] = session.info.pop(_AFTER_COMMIT, [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            # The unit of work is committed; its caller must not see it as failed.
            logger.exception("an after-commit action failed")
