"""``autogrid migrate`` and ``autogrid downgrade``: wait for the database, then run Alembic.

Works from any directory: alembic.ini is found next to the source tree (an editable install or
a checkout), else in the current directory, or wherever ``AUTOGRID_ALEMBIC_INI`` points (an
image that installs the package non-editable sets it).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

import autogrid
from autogrid.cli.startup import configure_command_logging, load_settings_or_exit
from autogrid.core.config import Settings
from autogrid.core.db import create_engine

ALEMBIC_INI_ENV = "AUTOGRID_ALEMBIC_INI"
RETRY_PAUSE_SECONDS = 1.0
MAX_CONNECT_TIMEOUT_SECONDS = 5.0


def alembic_ini_candidates() -> list[Path]:
    package_dir = Path(autogrid.__file__).resolve().parent
    # <repo>/src/autogrid -> <repo>/alembic.ini, then the working directory.
    return [package_dir.parent.parent / "alembic.ini", Path.cwd() / "alembic.ini"]


def find_alembic_ini() -> Path:
    explicit = os.environ.get(ALEMBIC_INI_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise click.ClickException(f"{ALEMBIC_INI_ENV}={explicit} is not a file")
        return path
    candidates = alembic_ini_candidates()
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(candidate) for candidate in candidates)
    raise click.ClickException(f"alembic.ini not found (looked at {looked}); set {ALEMBIC_INI_ENV}")


def alembic_config(settings: Settings) -> Config:
    config = Config(str(find_alembic_ini()))
    # migrations/env.py takes this URL over DATABASE_URL, so the CLI's settings (and overrides)
    # are the ones migrated.
    config.attributes["database_url"] = settings.database_url
    return config


def printable_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def _probe(settings: Settings, seconds: float) -> None:
    engine = create_engine(settings, pooled=False)
    try:
        async with asyncio.timeout(seconds), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


def wait_for_database(settings: Settings, wait_seconds: float) -> None:
    """Return once the database answers; raise ClickException after ``wait_seconds`` of failures."""
    deadline = time.monotonic() + wait_seconds
    announced = False
    while True:
        remaining = deadline - time.monotonic()
        attempt_seconds = max(1.0, min(MAX_CONNECT_TIMEOUT_SECONDS, remaining))
        try:
            asyncio.run(_probe(settings, attempt_seconds))
            return
        # Any failure means "not ready yet" (refused, starting up, DNS not there yet); the last
        # one is reported if the wait runs out.
        except Exception as error:
            if time.monotonic() + RETRY_PAUSE_SECONDS >= deadline:
                raise click.ClickException(
                    f"database {printable_url(settings.database_url)} did not accept "
                    f"connections within {wait_seconds:g}s: {_describe(error)}"
                ) from error
            if not announced:
                click.echo(
                    f"waiting up to {wait_seconds:g}s for database "
                    f"{printable_url(settings.database_url)} ({_describe(error)})",
                    err=True,
                )
                announced = True
            time.sleep(RETRY_PAUSE_SECONDS)


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "connection timed out"
    detail = str(error).strip().splitlines()
    return f"{type(error).__name__}: {detail[0]}" if detail else type(error).__name__


def upgrade_database(
    settings: Settings, *, revision: str = "head", wait_seconds: float = 0
) -> None:
    wait_for_database(settings, wait_seconds)
    command.upgrade(alembic_config(settings), revision)


@click.command("migrate")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="Seconds to keep retrying until the database accepts connections.",
)
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def migrate_command(wait_seconds: float, revision: str) -> None:
    """Wait for the database, then upgrade its schema (alembic upgrade)."""
    settings = load_settings_or_exit()
    configure_command_logging(settings)
    upgrade_database(settings, revision=revision, wait_seconds=wait_seconds)
    click.echo(f"database {printable_url(settings.database_url)} is at revision {revision}")


@click.command("downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Confirm a downgrade in production (it can drop data).")
def downgrade_command(revision: str, yes: bool) -> None:
    """Downgrade the schema to REVISION: -1, base or a revision id."""
    settings = load_settings_or_exit()
    if settings.is_production and not yes:
        raise click.ClickException("a production downgrade can drop data; repeat with --yes")
    configure_command_logging(settings)
    wait_for_database(settings, 0)
    command.downgrade(alembic_config(settings), revision)
    click.echo(f"database {printable_url(settings.database_url)} downgraded to {revision}")
