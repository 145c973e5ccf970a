"""SQL of the Telegram bot: linked chats, handled updates, the poller's row, a user's bots."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot, NotificationChannel, TelegramPoller, TelegramUpdate

POLLER_ID = 1


def _insert(session: AsyncSession, table: type[TelegramUpdate] | type[TelegramPoller]) -> object:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


async def remember_update(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """True the first time this update is seen; False when it was handled already (the row is
    part of the handling transaction, so a rolled-back handling is not remembered)."""
    statement = (
        _insert(session, TelegramUpdate)
        .values(update_id=update_id, received_at=now)  # type: ignore[attr-defined]
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(TelegramUpdate.update_id)
    )
    return (await session.scalar(statement)) is not None


async def prune_updates_before(session: AsyncSession, cutoff: datetime) -> int:
    result = await session.execute(
        delete(TelegramUpdate)
        .where(TelegramUpdate.received_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def channel_by_code(session: AsyncSession, code_hash: str) -> NotificationChannel | None:
    return await session.scalar(
        select(NotificationChannel)
        .where(NotificationChannel.link_code_hash == code_hash)
        .with_for_update()
    )


async def channel_by_chat(session: AsyncSession, lookup: str) -> NotificationChannel | None:
    return await session.scalar(
        select(NotificationChannel).where(NotificationChannel.chat_lookup == lookup)
    )


async def bots_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Bot]:
    rows = await session.scalars(
        select(Bot).where(Bot.user_id == user_id).order_by(Bot.name, Bot.id)
    )
    return rows.all()


# ----------------------------------------------------------------------------- the poller


async def lease_poller(
    session: AsyncSession, *, token: str, now: datetime, until: datetime
) -> int | None:
    """Take the poller's lease when it is free or expired: the offset to poll from, or None
    when another process holds it."""
    await session.execute(
        _insert(session, TelegramPoller)
        .values(id=POLLER_ID, next_offset=0)  # type: ignore[attr-defined]
        .on_conflict_do_nothing(index_elements=["id"])
    )
    taken = await session.execute(
        update(TelegramPoller)
        .where(
            TelegramPoller.id == POLLER_ID,
            (TelegramPoller.leased_until.is_(None)) | (TelegramPoller.leased_until <= now),
        )
        .values(leased_until=until, lease_token=token)
        .returning(TelegramPoller.next_offset)
        .execution_options(synchronize_session=False)
    )
    offset = taken.scalar()
    return int(offset) if offset is not None else None


async def release_poller(session: AsyncSession, *, token: str, next_offset: int | None) -> None:
    """Give the lease back, keeping the offset past the updates that were handled."""
    values: dict[str, object] = {"leased_until": None, "lease_token": None}
    if next_offset is not None:
        values["next_offset"] = next_offset
    await session.execute(
        update(TelegramPoller)
        .where(TelegramPoller.id == POLLER_ID, TelegramPoller.lease_token == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
