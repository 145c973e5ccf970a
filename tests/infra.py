"""Real PostgreSQL and Redis for tests.

Each pytest session gets its own freshly migrated PostgreSQL database, so several test runs (and
developers) can share one server. With ``CI=true`` an unreachable server fails the run; locally
it skips the tests that need it, with the reason.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
import redis
from fastapi.dependencies import models as fastapi_dependencies
from sqlalchemy import text

from autogrid.core.db import Database
from autogrid.models import Base

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get(
    "AUTOGRID_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("AUTOGRID_TEST_REDIS", "redis://127.0.0.1:6379/0")
# The app's startup and shutdown (database, Redis, the live feed) on a loaded machine can take
# longer than asgi_lifespan's 5 s default: wait on them generously, never fail on a busy core.
LIFESPAN_TIMEOUTS = {"startup_timeout": 60, "shutdown_timeout": 60}
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(what: str, error: BaseException) -> None:
    message = f"{what} is unreachable: {error!r}"
    if IN_CI:
        pytest.fail(f"CI requires it: {message}", pytrace=False)
    pytest.skip(message)


def _asyncpg_dsn(database: str) -> str:
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{database}"


async def _admin(*statements: str) -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        for sql in statements:
            await connection.execute(sql)
    finally:
        await connection.close()


# Set on each test database, so every session on it has it: the tests' own engines, the apps
# they start and the worker processes (which build their engines from the URL alone). A commit
# then returns without waiting for its WAL to reach the disk, the wait that kept PostgreSQL in
# disk wait through a run. What the tests check does not change: a committed transaction is
# visible to every other session at once, and survives any client process killed mid-write (the
# crash-safety tests); only a crash of the PostgreSQL server itself could lose the last ones.
TEST_DATABASE_SETTINGS = {"synchronous_commit": "off"}


def create_database(prefix: str = "autogrid_test") -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    settings = [
        f'ALTER DATABASE "{name}" SET {key} = {value}'
        for key, value in TEST_DATABASE_SETTINGS.items()
    ]
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"', *settings))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable("PostgreSQL", error)
    return _asyncpg_dsn(name).replace("postgresql://", "postgresql+asyncpg://", 1)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_alembic(url: str, *command: str) -> None:
    from alembic import command as alembic_command
    from alembic.config import Config

    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.attributes["database_url"] = url
    getattr(alembic_command, command[0])(config, *command[1:])


@contextmanager
def migrated_database(prefix: str = "autogrid_test") -> Iterator[str]:
    url = create_database(prefix)
    try:
        run_alembic(url, "upgrade", "head")
        yield url
    finally:
        drop_database(url)


def redis_or_fail() -> str:
    try:
        redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as error:
        unavailable("Redis", error)
    return REDIS_TEST_URL


# The sequences owned by a column of ``:tables`` that have handed out a value: back to their start,
# as TRUNCATE ... RESTART IDENTITY would set them.
_RESTART_USED_SEQUENCES = text(
    """
    SELECT setval(s.seqrelid, s.seqstart, false)
    FROM pg_sequence AS s
    JOIN pg_depend AS d
      ON d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    WHERE d.refobjid IN (SELECT to_regclass(name) FROM unnest(CAST(:tables AS text[])) AS name)
      AND pg_sequence_last_value(s.seqrelid) IS NOT NULL
    """
)


# Children first, so no foreign key is ever left pointing at a deleted row.
_DELETE_ALL_ROWS = "".join(
    f'DELETE FROM "{table.name}";' for table in reversed(Base.metadata.sorted_tables)
)


async def empty_all_tables(database: Database) -> None:
    """Every table empty and its sequences restarted, as the next test expects.

    DELETE, children first, rather than TRUNCATE: TRUNCATE gives each table, index and TOAST
    table a new file and forces a synchronous commit (about 130 files, up to a second a test
    on a busy machine), where deleting the few rows a test wrote takes milliseconds. The tables
    are locked first as TRUNCATE locks them, so the cleanup still waits for a transaction left
    open on them (whose rows a DELETE alone would not see) instead of running beside it.
    """
    tables = Base.metadata.sorted_tables
    names = ", ".join(f'"{table.name}"' for table in tables)
    async with database.engine.begin() as connection:
        # The lock begins the transaction (SQLAlchemy begins it at the first statement).
        await connection.execute(text(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE"))
        # Then every DELETE in one round trip, inside it (asyncpg sends a query without arguments
        # as a simple query, which may hold several statements): one by one they cost ~10 ms
        # after every test, most of it waiting on each answer.
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None and driver.is_in_transaction()
        await driver.execute(_DELETE_ALL_ROWS)
        await connection.execute(_RESTART_USED_SEQUENCES, {"tables": [t.name for t in tables]})


# FastAPI remembers, for each endpoint and dependency function, whether it is a coroutine or a
# generator, in caches of 4,096 entries holding the function itself. The docs pages
# fastapi_offline adds to each app are functions closing over that app, so a test process kept
# its last ~1,000 apps alive with all they reference (route tables, engines, Redis clients):
# workers grew to 3 GB and each full garbage collection walked all of it. A served process
# builds one app and is not concerned.
_FASTAPI_FUNCTION_CACHES = (
    fastapi_dependencies._is_gen_callable_cached,
    fastapi_dependencies._is_async_gen_callable_cached,
    fastapi_dependencies._is_coroutine_callable_cached,
)


def release_finished_apps() -> None:
    """Let the apps the tests have finished with be garbage (after each test)."""
    for cache in _FASTAPI_FUNCTION_CACHES:
        cache.cache_clear()
