"""SQL for listing users."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import User


def _escape_like(text: str) -> str:
    # The filter is a substring, not a pattern: "%" and "_" typed by the admin match themselves.
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_users(
    session: AsyncSession, email_contains: str | None, limit: int, offset: int
) -> tuple[Sequence[User], int]:
    query = select(User)
    if email_contains:
        pattern = f"%{_escape_like(email_contains.lower())}%"
        query = query.where(User.email.like(pattern, escape="\\"))
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    # created_at then id: a stable order, so pages neither repeat nor skip users.
    rows = await session.scalars(
        query.order_by(User.created_at, User.id).limit(limit).offset(offset)
    )
    return rows.all(), total or 0
