"""Re-encrypt every notification channel's destination under the newest ENCRYPTION_KEYS entry
(part of ``autogrid rotate-keys``, which rotates exchange credentials the same way).

Batches in id order, each its own transaction, rows locked ``FOR UPDATE SKIP LOCKED`` (one
being edited is skipped and retried on the next pass); the write checks the row is still under
the key it was read with and touches only the sealed columns.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.db import Database
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing
from autogrid.credentials.rotation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_PASSES,
    PAUSE_BETWEEN_PASSES_SECONDS,
    RotationReport,
)
from autogrid.models import NotificationChannel
from autogrid.notifications.secrets import open_document, seal_document

logger = logging.getLogger(__name__)


async def rotate_channels(
    database: Database,
    keyring: KeyRing,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    passes: int = DEFAULT_PASSES,
) -> RotationReport:
    newest = keyring.newest_key_id
    async with database.session_scope() as session:
        report = RotationReport(
            newest_key_id=newest, already_current=await _count(session, newest, current=True)
        )
    for pass_number in range(1, passes + 1):
        await _one_pass(database, keyring, report, batch_size)
        async with database.session_scope() as session:
            stale = await _count(session, newest, current=False)
        report.pending = max(0, stale - len(report.failed))
        if report.pending == 0:
            break
        if pass_number < passes:
            await asyncio.sleep(PAUSE_BETWEEN_PASSES_SECONDS)
    logger.info(
        "channel key rotation finished newest_key_id=%s rotated=%d failed=%d pending=%d",
        newest,
        report.rotated,
        len(report.failed),
        report.pending,
    )
    return report


async def _count(session: AsyncSession, newest: int, *, current: bool) -> int:
    version = NotificationChannel.key_version
    condition = version == newest if current else version != newest
    return (
        await session.scalar(select(func.count()).select_from(NotificationChannel).where(condition))
    ) or 0


async def _one_pass(
    database: Database, keyring: KeyRing, report: RotationReport, batch_size: int
) -> None:
    after: uuid.UUID | None = None
    while True:
        async with database.session_scope() as session:
            query = select(NotificationChannel).where(
                NotificationChannel.key_version != keyring.newest_key_id
            )
            if after is not None:
                query = query.where(NotificationChannel.id > after)
            if report.failed:
                query = query.where(NotificationChannel.id.not_in(list(report.failed)))
            rows = (
                await session.scalars(
                    query.order_by(NotificationChannel.id)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return
            report.batches += 1
            for row in rows:
                after = row.id
                report.rotated += await _rotate_row(session, keyring, row, report)


async def _rotate_row(
    session: AsyncSession, keyring: KeyRing, row: NotificationChannel, report: RotationReport
) -> int:
    try:
        # Whatever the kind, the document is carried over as it is.
        document = open_document(keyring, row.id, row.user_id, row.config_ciphertext)
    except CredentialCryptoError as error:
        report.failed[row.id] = str(error)
        logger.error("cannot rotate notification channel_id=%s: %s", row.id, error)
        return 0
    result = await session.execute(
        update(NotificationChannel)
        .where(NotificationChannel.id == row.id, NotificationChannel.key_version == row.key_version)
        .values(
            key_version=keyring.newest_key_id,
            config_ciphertext=seal_document(keyring, row.id, row.user_id, document),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
