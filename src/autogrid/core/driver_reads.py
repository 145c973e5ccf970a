"""A read route's SELECTs, run straight on the pooled asyncpg connection once their shape is known.

SQLAlchemy's execution of an already compiled SELECT (its execution context, events, cursor
adaptation and greenlet hops) cost a read about what asyncpg's whole query did: ~130 us of CPU
per statement, a bot list's largest single cost after the framework's. ``read_rows`` runs a
statement's first execution through SQLAlchemy, learns from it the result's shape (its columns and
their result processors), and from then on sends the statement's SQL, compiled once, with its
values bound as SQLAlchemy binds them, to the driver itself: the rows are SQLAlchemy ``Row``
objects made by the same processors, so a route answers exactly what it did.

Only a plain SELECT on an autocommit connection (``Database.reads``, ``pooled_rows``) with
asyncpg takes this path. Anything else runs as ``connection.execute`` does: another driver
(SQLite), a statement with expanding (IN) or literal-execute parameters, a connection inside a
transaction (a session's).
A driver call that fails is run again through SQLAlchemy (a SELECT changes nothing), so a failed
read raises SQLAlchemy's own error and a dropped connection invalidates the pool as it did. If
SQLAlchemy then runs it, the fault was this path's own (a driver or library upgrade, say): the
statement's plan is forgotten, with a warning, rather than every read of it paying two attempts
unseen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

logger = logging.getLogger(__name__)

# Plans are kept per statement (module-level statements, or cached per filter combination) and
# dialect (one per engine): past this many, e.g. in a test process making engines by the dozen,
# the memory starts afresh.
MAX_PLANS = 512


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to run one statement on the driver and make SQLAlchemy's rows of what it returns."""

    sql: str
    positions: tuple[str, ...]
    construct_params: Callable[..., Mapping[str, Any]]
    bind_processors: Mapping[str, Any]  # a bound value's processor, by name
    metadata: Any  # the result's ResultMetaData, as SQLAlchemy made it on the first run
    processors: Any  # the columns' result processors (None where a column needs none)
    key_to_index: dict[Any, int]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional values, as SQLAlchemy's execution context binds them."""
        params = self.construct_params(values, escape_names=False)
        processors = self.bind_processors
        return [
            processors[name](params[name]) if name in processors else params[name]
            for name in self.positions
        ]


# (id(statement), id(dialect)) -> (statement, dialect, plan or None when it takes no plan);
# the objects are kept with their plan so that their ids are not reused meanwhile.
_plans: dict[tuple[int, int], tuple[object, object, _Plan | None]] = {}


def _known(statement: Select[Any], dialect: Dialect) -> tuple[bool, _Plan | None]:
    found = _plans.get((id(statement), id(dialect)))
    if found is None or found[0] is not statement or found[1] is not dialect:
        return False, None
    return True, found[2]


def _learn(statement: Select[Any], dialect: Dialect, result: Any) -> None:
    """Remember how to run ``statement`` on the driver, from SQLAlchemy's run of it."""
    plan = None
    compiled = statement.compile(dialect=dialect)
    metadata = result._metadata
    simple = (
        # A SELECT only: a read connection's refusal of writes is SQLAlchemy's, not the plan's.
        getattr(statement, "is_select", False)
        and dialect.driver == "asyncpg"
        and compiled.positional
        and compiled.positiontup is not None
        and not compiled.literal_execute_params
        and not compiled.post_compile_params
        and not compiled.schema_translate_map
        # The SQL SQLAlchemy sent is the SQL the driver will get.
        and result.context.statement == compiled.string
        and getattr(metadata, "_tuplefilter", None) is None
    )
    if simple:
        plan = _Plan(
            sql=compiled.string,
            positions=tuple(compiled.positiontup or ()),
            construct_params=compiled.construct_params,
            bind_processors=dict(compiled._bind_processors),
            metadata=metadata,
            processors=metadata._effective_processors,
            key_to_index=metadata._key_to_index,
        )
    if len(_plans) >= MAX_PLANS:
        _plans.clear()
    _plans[(id(statement), id(dialect))] = (statement, dialect, plan)


def _autocommit(connection: AsyncConnection) -> bool:
    options = connection.sync_connection.get_execution_options()  # type: ignore[union-attr]
    return options.get("isolation_level") == "AUTOCOMMIT"


async def _driver_rows(connection: AsyncConnection, plan: _Plan, values: Mapping[str, Any]) -> Any:
    """The records, or None where the driver could not be asked or failed (SQLAlchemy runs it)."""
    try:
        # Already checked out (no I/O): an invalidated connection raises here instead.
        driver: Any = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
        return await driver.fetch(plan.sql, *plan.arguments(values))
    except Exception:
        return None


async def read_rows(
    connection: AsyncConnection, statement: Select[Any], values: Mapping[str, Any]
) -> list[Row[Any]]:
    """``statement``'s rows with ``values`` bound: ``(await connection.execute(...)).all()``."""
    known, plan = _known(statement, connection.dialect)
    if plan is not None and _autocommit(connection):
        records = await _driver_rows(connection, plan, values)
        if records is not None:
            return _rows(plan, records)
    return await _sqlalchemy_rows(connection, statement, values, known=known, plan=plan)


def _rows(plan: _Plan, records: list[Any]) -> list[Row[Any]]:
    make = Row
    metadata, processors, key_to_index = plan.metadata, plan.processors, plan.key_to_index
    return [make(metadata, processors, key_to_index, record) for record in records]


async def _sqlalchemy_rows(
    connection: AsyncConnection,
    statement: Select[Any],
    values: Mapping[str, Any],
    *,
    known: bool,
    plan: _Plan | None,
) -> list[Row[Any]]:
    """SQLAlchemy's run of it, after the driver failed it if it has a ``plan``."""
    result = await connection.execute(statement, values)
    dialect = connection.dialect
    if plan is not None:  # the driver failed where SQLAlchemy did not: this path's fault
        logger.warning(
            "a read runs through SQLAlchemy from now on: the driver failed it: %s", plan.sql
        )
        _plans[(id(statement), id(dialect))] = (statement, dialect, None)
    elif not known and _autocommit(connection):
        _learn(statement, dialect, result)
    return list(result.all())


async def pooled_rows(
    engine: AsyncEngine, statement: Select[Any], values: Mapping[str, Any]
) -> list[Row[Any]]:
    """``read_rows`` on a connection of ``engine``'s pool (in autocommit) taken for this
    statement alone and given back as soon as its rows are read.

    With a plan, the driver's connection is taken from the pool itself, not through an
    ``AsyncConnection`` (whose making and closing cost a read more than the pool's own
    checkout and checkin: ~55 against ~20 us of CPU); the pool's accounting, its checkout
    events (the ping of a connection idle too long) and its reset at checkin are unchanged. A
    driver call that fails is run again through SQLAlchemy on the same connection, as
    ``read_rows`` does. The connection is given back whatever happens to the read: no I/O is
    left to do at its checkin (autocommit: no transaction to roll back), so nothing there can
    be interrupted by a cancellation.
    """
    _, plan = _known(statement, engine.dialect)
    if plan is None:
        connection = await engine.connect()
        try:
            return await read_rows(connection, statement, values)
        finally:
            await connection.close()
    pooled = await engine.raw_connection()
    driver: Any = pooled.driver_connection
    try:
        records = await driver.fetch(plan.sql, *plan.arguments(values))
    except Exception:
        return await _rerun(engine, pooled, statement, values, plan)  # it gives it back
    except BaseException:
        # Cancelled: given back all the same (asyncpg finishes cancelling the statement on
        # the server before it runs the connection's next one).
        pooled.close()
        raise
    # No I/O: nothing to roll back on a connection that began no transaction.
    pooled.close()
    return _rows(plan, records)


async def _rerun(
    engine: AsyncEngine,
    pooled: PoolProxiedConnection,
    statement: Select[Any],
    values: Mapping[str, Any],
    plan: _Plan,
) -> list[Row[Any]]:
    """SQLAlchemy's run of what the driver failed, on the same connection: its own error, its
    invalidation of a dropped connection (and of the pool with it), the plan forgotten if it
    succeeds; the connection given back either way."""
    try:
        sync_connection = await greenlet_spawn(Connection, engine.sync_engine, pooled)
    except BaseException:
        pooled.invalidate()
        raise
    connection = AsyncConnection(engine, sync_connection)
    try:
        return await _sqlalchemy_rows(connection, statement, values, known=True, plan=plan)
    finally:
        await connection.close()
