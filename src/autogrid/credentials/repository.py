"""SQL for exchange credentials (and the bots that reference them)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core import owned_rows
from autogrid.models import Bot, ExchangeCredential


async def get_for_user(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID, *, lock: bool = False
) -> ExchangeCredential | None:
    query = select(ExchangeCredential).where(
        ExchangeCredential.id == credential_id, ExchangeCredential.user_id == user_id
    )
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def get_by_id(session: AsyncSession, credential_id: uuid.UUID) -> ExchangeCredential | None:
    return await session.get(ExchangeCredential, credential_id)


async def list_for_user(
    session: AsyncSession, user_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[ExchangeCredential], int]:
    return await owned_rows.list_for_user(session, ExchangeCredential, user_id, limit, offset)


async def count_for_user(session: AsyncSession, user_id: uuid.UUID) -> int:
    return await owned_rows.count_for_user(session, ExchangeCredential, user_id)


async def label_taken(
    session: AsyncSession, user_id: uuid.UUID, label: str, *, except_id: uuid.UUID | None = None
) -> bool:
    return await owned_rows.label_taken(
        session, ExchangeCredential, user_id, label, except_id=except_id
    )


@dataclass(frozen=True, slots=True)
class BotUse:
    id: uuid.UUID
    name: str
    status: str


async def lock_bots_using(session: AsyncSession, credential_id: uuid.UUID) -> list[BotUse]:
    """The bots referencing the credential, locked until commit so none changes status meanwhile."""
    rows = await session.execute(
        select(Bot.id, Bot.name, Bot.status)
        .where(Bot.credential_id == credential_id)
        .order_by(Bot.id)
        .with_for_update()
    )
    return [BotUse(id=row.id, name=row.name, status=row.status) for row in rows]


async def detach_from_bots(session: AsyncSession, credential_id: uuid.UUID) -> int:
    """Clear ``credential_id`` on every bot using it (bumping their version); returns the count."""
    result = await session.execute(
        update(Bot)
        .where(Bot.credential_id == credential_id)
        .values(credential_id=None, version=Bot.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_credential(session: AsyncSession, credential_id: uuid.UUID) -> None:
    await session.execute(
        delete(ExchangeCredential)
        .where(ExchangeCredential.id == credential_id)
        .execution_options(synchronize_session=False)
    )


# ----------------------------------------------------------------------------- key rotation


async def claim_for_rotation(
    session: AsyncSession,
    newest_key_id: int,
    *,
    after_id: uuid.UUID | None,
    skip_ids: Collection[uuid.UUID],
    limit: int,
) -> Sequence[ExchangeCredential]:
    """Rows not yet under the newest key, in id order after ``after_id``, locked for this
    transaction; rows another transaction holds are skipped (a later pass picks them up)."""
    query = select(ExchangeCredential).where(ExchangeCredential.key_version != newest_key_id)
    if after_id is not None:
        query = query.where(ExchangeCredential.id > after_id)
    if skip_ids:
        query = query.where(ExchangeCredential.id.not_in(list(skip_ids)))
    query = query.order_by(ExchangeCredential.id).limit(limit).with_for_update(skip_locked=True)
    return (await session.scalars(query)).all()


async def store_rotated(
    session: AsyncSession,
    credential_id: uuid.UUID,
    *,
    old_key_version: int,
    new_key_version: int,
    api_key_ciphertext: bytes,
    api_secret_ciphertext: bytes,
    passphrase_ciphertext: bytes | None,
) -> bool:
    """Write re-encrypted secrets only if the row is still under ``old_key_version`` (a second
    guard next to the row lock, for backends without FOR UPDATE). Only these columns change, so
    a concurrent rename or revalidation is never overwritten."""
    result = await session.execute(
        update(ExchangeCredential)
        .where(
            ExchangeCredential.id == credential_id,
            ExchangeCredential.key_version == old_key_version,
        )
        .values(
            key_version=new_key_version,
            api_key_ciphertext=api_key_ciphertext,
            api_secret_ciphertext=api_secret_ciphertext,
            passphrase_ciphertext=passphrase_ciphertext,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def count_by_key_version(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(ExchangeCredential.key_version, func.count()).group_by(
            ExchangeCredential.key_version
        )
    )
    return {int(version): int(count) for version, count in rows}
