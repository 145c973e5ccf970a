"""SQL for users and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Select, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autogrid.models import RefreshToken, User


async def get_user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == email))
    return result.scalar_one_or_none()


async def insert_user(session: AsyncSession, user: User) -> bool:
    """Insert and flush; False if the email is taken (also when a concurrent insert won)."""
    try:
        # A savepoint keeps the outer transaction usable after the unique violation.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def add_refresh_token(session: AsyncSession, token: RefreshToken) -> None:
    session.add(token)
    await session.flush()


async def lock_refresh_token(session: AsyncSession, jti: str) -> RefreshToken | None:
    """Load the row with SELECT ... FOR UPDATE, so concurrent rotations of it run one at a time.

    ``populate_existing`` makes a waiting transaction see the row as the winner committed it.
    """
    result = await session.execute(
        select(RefreshToken)
        .where(RefreshToken.jti == jti)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def mark_rotated(
    session: AsyncSession, token_id: uuid.UUID, replaced_by_jti: str, now: datetime
) -> bool:
    """Retire a live token in favour of its successor; False if it was already retired.

    The ``revoked_at IS NULL`` condition is a compare-and-set, so even a backend without row
    locks (SQLite) cannot rotate one token twice.
    """
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, replaced_by_jti=replaced_by_jti)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


async def revoke_all_for_user(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> int:
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount


async def bump_token_version(session: AsyncSession, user: User) -> int:
    """Invalidate every token issued to the user so far; returns the new version.

    An atomic increment, so two concurrent bumps both count; ``user`` is refreshed to match.
    """
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(token_version=User.token_version + 1)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(user, ["token_version"])
    return user.token_version


async def delete_expired_refresh_tokens(session: AsyncSession, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` refresh tokens past their expiry (their JWT is refused anyway)."""
    batch = select(RefreshToken.id).where(RefreshToken.expires_at <= now).limit(limit)
    return await _delete_ids(session, batch)


async def delete_revoked_families(
    session: AsyncSession, revoked_before: datetime, limit: int
) -> int:
    """Delete up to ``limit`` tokens of families with no live token left, revoked long enough ago.

    A family with a live token keeps its rotated tokens: presenting one of them is the theft
    signal that revokes the family. A wholly revoked family answers every token 401 with or
    without its rows; they are kept ``revoked_before`` for the record, then deleted.
    """
    live = aliased(RefreshToken)
    batch = (
        select(RefreshToken.id)
        .where(
            RefreshToken.revoked_at.is_not(None),
            RefreshToken.revoked_at < revoked_before,
            ~exists().where(live.family_id == RefreshToken.family_id, live.revoked_at.is_(None)),
        )
        .limit(limit)
    )
    return await _delete_ids(session, batch)


async def _delete_ids(session: AsyncSession, batch: Select[uuid.UUID]) -> int:
    ids = list((await session.execute(batch)).scalars())
    if not ids:
        return 0
    result = await session.execute(
        delete(RefreshToken)
        .where(RefreshToken.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], result).rowcount
