"""Migration 0007 moves the old ``bot_events`` journal into ``events`` (with each event's owner,
ids in time order) and back again on downgrade, on PostgreSQL and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Connection, DateTime, TableClause, Uuid, column, insert, select, table

from tests.infra import create_database, drop_database, run_alembic
from tests.migrations.test_migrations import _inspect

START = datetime(2026, 11, 1, tzinfo=UTC)
TYPES: dict[str, Any] = {
    "id": Uuid,
    "user_id": Uuid,
    "bot_id": Uuid,
    "config": JSON,
    "state": JSON,
    "data": JSON,
    "created_at": DateTime(timezone=True),
    "updated_at": DateTime(timezone=True),
}


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
        return
    made = create_database("autogrid_journal_migration")
    try:
        yield made
    finally:
        drop_database(made)


def _table(name: str, *names: str) -> TableClause:
    return table(name, *(column(n, TYPES.get(n)) for n in names))


def _run(url: str, statement: Any) -> Any:
    def go(connection: Connection) -> Any:
        result = connection.execute(statement)
        rows = [tuple(row) for row in result.all()] if result.returns_rows else None
        connection.commit()
        return rows

    return _inspect(url, go)


def test_old_bot_events_move_to_the_journal_and_back(url: str) -> None:
    run_alembic(url, "upgrade", "0006")
    user_id, bot_id = uuid.uuid4(), uuid.uuid4()
    stamps = {"created_at": START, "updated_at": START}
    _run(url, insert(_table("users", "id", "email", "password_hash", "role", "plan", "is_active",
                            "created_at", "updated_at")).values(
        id=user_id, email="old@example.com", password_hash="x", role="user", plan="free",
        is_active=True, **stamps,
    ))  # fmt: skip
    _run(url, insert(_table("bots", "id", "user_id", "name", "type", "exchange", "symbol", "mode",
                            "config", "status", "state", "tick_interval_seconds", "version",
                            "created_at", "updated_at")).values(
        id=bot_id, user_id=user_id, name="old", type="grid", exchange="binance",
        symbol="BTC/USDT", mode="paper", config={}, status="stopped", state={},
        tick_interval_seconds=5, version=1, **stamps,
    ))  # fmt: skip
    old = _table("bot_events", "id", "bot_id", "kind", "message", "data", "created_at")
    # Written out of time order: the journal's ids follow the times.
    for minutes, kind in [(2, "started"), (0, "created"), (1, "start_requested")]:
        at = START + timedelta(minutes=minutes)
        values = {"kind": kind, "message": kind, "data": {"n": minutes}, "created_at": at}
        _run(url, insert(old).values(id=uuid.uuid4(), bot_id=bot_id, **values))

    run_alembic(url, "upgrade", "0007")
    events = _table("events", "id", "user_id", "bot_id", "type", "data")
    query = select(events.c.user_id, events.c.bot_id, events.c.type, events.c.data)
    assert _run(url, query.order_by(events.c.id)) == [
        (user_id, bot_id, "created", {"n": 0}),
        (user_id, bot_id, "start_requested", {"n": 1}),
        (user_id, bot_id, "started", {"n": 2}),
    ]

    run_alembic(url, "downgrade", "0006")
    back = _run(url, select(old.c.bot_id, old.c.kind, old.c.data).order_by(old.c.created_at))
    assert back == [
        (bot_id, "created", {"n": 0}),
        (bot_id, "start_requested", {"n": 1}),
        (bot_id, "started", {"n": 2}),
    ]
