"""Re-encrypt every credential under the newest ENCRYPTION_KEYS entry, with no downtime.

How to rotate: put the new key first (``ENCRYPTION_KEYS=new,old``) and restart the API and
workers; every row stays readable because decryption picks the key by the id in each blob. Run
``autogrid rotate-keys``; once it reports nothing pending, the old key can be removed.

Rows are processed in id order, in batches; each batch is its own transaction and locks its rows
``FOR UPDATE SKIP LOCKED``, so a row being edited elsewhere is skipped (and retried on the next
pass) rather than waited for, and the API is never blocked for long. The write also checks that
the row is still under the key it was read with, and touches only the secret columns, so a
concurrent rename or revalidation is never lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from autogrid.core.db import Database
from autogrid.credentials import repository
from autogrid.credentials.crypto import CredentialCryptoError, KeyRing
from autogrid.credentials.service import open_secrets, seal_secrets

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
DEFAULT_PASSES = 3
PAUSE_BETWEEN_PASSES_SECONDS = 0.5


@dataclass(slots=True)
class RotationReport:
    newest_key_id: int
    rotated: int = 0
    already_current: int = 0
    # Rows that could not be decrypted (their key is missing, or the blob is damaged), by id.
    failed: dict[uuid.UUID, str] = field(default_factory=dict)
    # Rows still under an older key after every pass (held by other transactions throughout).
    pending: int = 0
    batches: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and self.pending == 0


async def rotate_credentials(
    database: Database,
    keyring: KeyRing,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    passes: int = DEFAULT_PASSES,
) -> RotationReport:
    newest = keyring.newest_key_id
    async with database.session_scope() as session:
        counts = await repository.count_by_key_version(session)
    report = RotationReport(newest_key_id=newest, already_current=counts.get(newest, 0))
    for pass_number in range(1, passes + 1):
        await _one_pass(database, keyring, report, batch_size)
        async with database.session_scope() as session:
            counts = await repository.count_by_key_version(session)
        report.pending = sum(n for version, n in counts.items() if version != newest) - len(
            report.failed
        )
        if report.pending <= 0:
            report.pending = 0
            break
        if pass_number < passes:
            await asyncio.sleep(PAUSE_BETWEEN_PASSES_SECONDS)
    logger.info(
        "key rotation finished newest_key_id=%s rotated=%d already_current=%d failed=%d "
        "pending=%d batches=%d",
        newest,
        report.rotated,
        report.already_current,
        len(report.failed),
        report.pending,
        report.batches,
    )
    return report


async def _one_pass(
    database: Database, keyring: KeyRing, report: RotationReport, batch_size: int
) -> None:
    after: uuid.UUID | None = None
    while True:
        async with database.session_scope() as session:
            rows = await repository.claim_for_rotation(
                session,
                keyring.newest_key_id,
                after_id=after,
                skip_ids=report.failed.keys(),
                limit=batch_size,
            )
            if not rows:
                return
            report.batches += 1
            for row in rows:
                after = row.id
                try:
                    # Not registered with the log scrubber: nothing here logs them, and a
                    # rotation of many rows would bloat the scrubber's pattern for nothing.
                    secrets = open_secrets(keyring, row, register=False)
                except CredentialCryptoError as error:
                    report.failed[row.id] = str(error)
                    logger.error("cannot rotate credential_id=%s: %s", row.id, error)
                    continue
                sealed = seal_secrets(keyring, row.id, row.user_id, secrets)
                stored = await repository.store_rotated(
                    session,
                    row.id,
                    old_key_version=row.key_version,
                    new_key_version=sealed.key_version,
                    api_key_ciphertext=sealed.api_key,
                    api_secret_ciphertext=sealed.api_secret,
                    passphrase_ciphertext=sealed.passphrase,
                )
                report.rotated += int(stored)
