"""Migrations go up, down and up again on both backends, and end where the ORM models are."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from autogrid.core.config import load_settings
from autogrid.core.db import create_engine
from autogrid.models import Base
from tests.infra import create_database, drop_database, run_alembic


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
        return
    url = create_database("autogrid_migrations")
    try:
        yield url
    finally:
        drop_database(url)


def _inspect(url: str, probe: Any) -> Any:
    """Run ``probe(sync_connection)`` against the database behind ``url``."""

    async def run() -> Any:
        engine = create_engine(load_settings(database_url=url), pooled=False)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(probe)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    return set(_inspect(url, lambda connection: inspect(connection).get_table_names()))


def schema_differences(url: str) -> list[Any]:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    return list(_inspect(url, compare))


def current_revision(url: str) -> str | None:
    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    return _inspect(url, read)  # type: ignore[no-any-return]


def test_upgrade_downgrade_upgrade_matches_the_models(empty_database_url: str) -> None:
    url = empty_database_url
    model_tables = set(Base.metadata.tables)

    run_alembic(url, "upgrade", "head")
    assert model_tables <= table_names(url)
    assert current_revision(url) is not None
    assert schema_differences(url) == []

    run_alembic(url, "downgrade", "base")
    # Downgrading must remove everything it created; only Alembic's bookkeeping may remain.
    assert table_names(url) <= {"alembic_version"}
    assert current_revision(url) is None

    run_alembic(url, "upgrade", "head")
    assert model_tables <= table_names(url)
    assert schema_differences(url) == []


def test_the_comparison_notices_a_schema_that_drifted(tmp_path: Path) -> None:
    """Guards the test above against passing vacuously."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    run_alembic(url, "upgrade", "head")
    index = next(index for table in Base.metadata.sorted_tables for index in table.indexes)

    def drop_index(connection: Connection) -> None:
        connection.exec_driver_sql(f'DROP INDEX "{index.name}"')
        connection.commit()

    _inspect(url, drop_index)
    differences = schema_differences(url)
    assert [(kind, found.name) for kind, found in differences] == [("add_index", index.name)]
