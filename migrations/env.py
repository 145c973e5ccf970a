"""Alembic environment: async engines, batch mode on SQLite, URL from the application settings."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import context
from sqlalchemy.engine import Connection

from autogrid.core.config import load_settings
from autogrid.core.db import create_engine
from autogrid.models import Base

# Lets migrations import their shared helpers (migrations/timescale.py) wherever alembic runs.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    # Tests and the CLI pass an explicit URL; otherwise DATABASE_URL from the environment.
    explicit = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return explicit or load_settings().database_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    settings = load_settings(database_url=_database_url())
    engine = create_engine(settings, pooled=False)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
        await connection.commit()
    await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_online())
