"""``autogrid rotate-keys``: re-encrypt every exchange credential, and every notification
channel's destination, under the newest key.

Settings come from the click context object when a parent provides a ``Settings`` there (tests
do), otherwise from the environment (DATABASE_URL, ENCRYPTION_KEYS, ...). Exits 1 when a row
could not be rotated, so a deployment script does not drop the old key too early.
"""

from __future__ import annotations

import asyncio

import click

from autogrid.cli.startup import configure_command_logging, load_settings_or_exit
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.credentials.crypto import KeyRing
from autogrid.credentials.rotation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PASSES,
    RotationReport,
    rotate_credentials,
)
from autogrid.notifications.rotation import rotate_channels


async def _rotate(
    settings: Settings, keyring: KeyRing, batch_size: int, passes: int
) -> RotationReport:
    # No pool: a one-shot command should not keep idle connections around.
    database = Database.from_settings(settings, pooled=False)
    try:
        credentials = await rotate_credentials(
            database, keyring, batch_size=batch_size, passes=passes
        )
        channels = await rotate_channels(database, keyring, batch_size=batch_size, passes=passes)
    finally:
        await database.dispose()
    return RotationReport(
        newest_key_id=credentials.newest_key_id,
        rotated=credentials.rotated + channels.rotated,
        already_current=credentials.already_current + channels.already_current,
        failed={**credentials.failed, **channels.failed},
        pending=credentials.pending + channels.pending,
        batches=credentials.batches + channels.batches,
    )


@click.command("rotate-keys")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Rows per transaction.",
)
@click.option(
    "--passes",
    type=click.IntRange(1, 100),
    default=DEFAULT_PASSES,
    show_default=True,
    help="Sweeps over the table; rows locked by others during one are retried in the next.",
)
@click.pass_context
def rotate_keys_command(ctx: click.Context, batch_size: int, passes: int) -> None:
    """Re-encrypt every exchange credential and notification channel under the newest key."""
    settings = ctx.find_object(Settings)
    if settings is None:
        settings = load_settings_or_exit()
        configure_command_logging(settings)
    try:
        keyring = KeyRing.from_strings(settings.encryption_keys)
    except ValueError as error:  # no key, or two keys sharing an id
        raise click.ClickException(str(error)) from None
    report = asyncio.run(_rotate(settings, keyring, batch_size, passes))
    click.echo(
        f"newest key id {report.newest_key_id}: rotated {report.rotated}, "
        f"already current {report.already_current}, failed {len(report.failed)}, "
        f"pending {report.pending}"
    )
    for credential_id, reason in report.failed.items():
        click.echo(f"failed {credential_id}: {reason}", err=True)
    if report.pending:
        click.echo(
            f"{report.pending} row(s) stayed locked by other transactions; run it again", err=True
        )
    if not report.ok:
        ctx.exit(1)
