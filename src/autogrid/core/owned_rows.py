"""SQL shared by tables of rows a user owns and names (exchange credentials, notification
channels): a stable page of them, their count, and whether a label is already in use."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar, Protocol, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped

from autogrid.core.paged_rows import page_and_total


class OwnedRow(Protocol):
    # Class-level: the queries read the mapped columns off the model class.
    id: ClassVar[Mapped[uuid.UUID]]
    user_id: ClassVar[Mapped[uuid.UUID]]
    label: ClassVar[Mapped[str]]
    created_at: ClassVar[Mapped[datetime]]


Row = TypeVar("Row", bound=OwnedRow)


async def list_for_user(
    session: AsyncSession, model: type[Row], user_id: uuid.UUID, limit: int, offset: int
) -> tuple[Sequence[Row], int]:
    """One page of the user's rows, oldest first, and how many there are in all (one statement
    while the page has rows)."""
    query = select(model).where(model.user_id == user_id)
    # created_at then id: a stable order, so pages neither repeat nor skip rows.
    order = [model.created_at, model.id]
    return await page_and_total(session, query, order, limit=limit, offset=offset)


async def count_for_user(session: AsyncSession, model: type[OwnedRow], user_id: uuid.UUID) -> int:
    total = await session.scalar(
        select(func.count()).select_from(model).where(model.user_id == user_id)
    )
    return total or 0


async def label_taken(
    session: AsyncSession,
    model: type[OwnedRow],
    user_id: uuid.UUID,
    label: str,
    *,
    except_id: uuid.UUID | None = None,
) -> bool:
    query = select(model.id).where(model.user_id == user_id, model.label == label)
    if except_id is not None:
        query = query.where(model.id != except_id)
    return (await session.scalar(query.limit(1))) is not None
