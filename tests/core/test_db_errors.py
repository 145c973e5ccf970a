"""A database error never carries the statement's bound values into a message or a log."""

from __future__ import annotations

import io
import logging
import traceback
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.engine.context import runtime_database
from autogrid.observability import configure_logging

SUBMITTED = "someone.private@example.com"


async def _failing_statement(database: Database, sql: str, value: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised:
        async with database.session_scope() as session:
            await session.execute(text(sql), {"value": value})
    return raised.value


@pytest.fixture
def log_stream(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_json": True}), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def _log(error: Exception) -> None:
    logging.getLogger("autogrid.core.errors").exception("unhandled error", exc_info=error)


async def test_a_nul_character_error_carries_no_parameters(db: Database) -> None:
    # The finding: PostgreSQL refuses the NUL, and the error used to list every bound value.
    error = await _failing_statement(db, "SELECT CAST(:value AS text)", SUBMITTED + "\x00")
    rendered = "".join(traceback.format_exception(error))
    assert "0x00" in rendered and "SELECT CAST" in rendered  # still there to debug with
    assert SUBMITTED not in rendered


async def test_the_workers_engine_hides_parameters_too(settings: Settings) -> None:
    database = runtime_database(settings)
    try:
        error = await _failing_statement(
            database, "SELECT CAST(:value AS text)", SUBMITTED + "\x00"
        )
        assert SUBMITTED not in str(error)
    finally:
        await database.dispose()


async def test_a_value_the_driver_echoes_is_scrubbed_from_the_log(
    db: Database, log_stream: io.StringIO
) -> None:
    # asyncpg puts a value it cannot encode in its own message, past hide_parameters.
    error = await _failing_statement(db, "SELECT CAST(:value AS integer)", SUBMITTED)
    _log(error)
    logged = log_stream.getvalue()
    assert "invalid input for query argument $1: [REDACTED]" in logged
    assert SUBMITTED not in logged
