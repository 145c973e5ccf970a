"""The API's pool: a connection that died while it sat idle is replaced before a request uses it,
without a ping on every checkout."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from autogrid.core import db as db_module
from autogrid.core.config import Settings
from autogrid.core.db import Database


async def backend_pid(database: Database) -> int:
    async with database.session_scope() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def terminate(settings: Settings, pid: int) -> None:
    killer = Database.from_settings(settings, pooled=False)
    try:
        async with killer.session_scope() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()


async def test_a_connection_idle_past_the_allowance_is_pinged_and_replaced_if_dead(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    database = Database.from_settings(settings.model_copy(update={"database_pool_size": 1}))
    try:
        dead = await backend_pid(database)
        await terminate(settings, dead)
        # Without the ping this statement would fail on the terminated connection.
        assert await backend_pid(database) != dead
    finally:
        await database.dispose()


async def test_a_connection_used_again_at_once_is_not_pinged(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database.from_settings(settings.model_copy(update={"database_pool_size": 1}))
    dialect = database.engine.sync_engine.dialect
    pings: list[Any] = []
    real_ping = dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        pings.append(connection)
        return real_ping(connection)

    monkeypatch.setattr(dialect, "do_ping", counted_ping)
    try:
        first = await backend_pid(database)
        assert await backend_pid(database) == first  # the same pooled connection, reused
        assert pings == []
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert await backend_pid(database) == first
        assert len(pings) == 1
    finally:
        await database.dispose()


async def test_the_pool_opens_up_to_twice_the_setting_and_keeps_what_it_opened(
    settings: Settings,
) -> None:
    """The README and .env.example: at most twice DATABASE_POOL_SIZE per process, and a burst's
    connections stay open for the next burst instead of being closed as they come back."""
    database = Database.from_settings(settings.model_copy(update={"database_pool_size": 2}))
    pool = database.engine.sync_engine.pool
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda *_: opened.append(1))
    try:
        for _burst in range(3):
            connections = [await database.engine.connect() for _ in range(4)]
            for connection in connections:
                await connection.execute(text("SELECT 1"))
            assert pool.checkedout() == 4  # type: ignore[attr-defined]
            for connection in connections:
                await connection.close()
            assert pool.checkedin() == 4  # type: ignore[attr-defined]
        assert len(opened) == 4  # the first burst's, used again by the next two
        assert pool.size() == 4  # type: ignore[attr-defined]
        assert db_module.pool_sizes(settings) == {
            "pool_size": 2 * settings.database_pool_size,
            "max_overflow": 0,
        }
    finally:
        await database.dispose()
