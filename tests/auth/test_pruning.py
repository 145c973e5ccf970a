"""Pruning keeps refresh_tokens bounded without weakening reuse detection (PostgreSQL, SQLite)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from autogrid.auth.pruning import REVOKED_FAMILY_RETENTION, prune_refresh_tokens
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import RefreshToken, User
from autogrid.worker.celery_app import create_celery


def token(
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    now: datetime,
    *,
    expires_in: timedelta = timedelta(days=7),
    revoked_ago: timedelta | None = None,
    rotated: bool = False,
) -> RefreshToken:
    return RefreshToken(
        user_id=user_id,
        family_id=family_id,
        jti=uuid.uuid4().hex,
        issued_at=now - timedelta(days=1),
        expires_at=now + expires_in,
        revoked_at=now - revoked_ago if revoked_ago is not None else None,
        replaced_by_jti=uuid.uuid4().hex if rotated else None,
    )


async def remaining_jtis(database: Database) -> set[str]:
    async with database.session_scope() as session:
        return set((await session.execute(select(RefreshToken.jti))).scalars())


async def test_prunes_expired_and_long_revoked_families_only(database: Database) -> None:
    now = utcnow()
    user_id = uuid.uuid4()
    live_family, old_logout, recent_logout = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    long_ago = REVOKED_FAMILY_RETENTION + timedelta(days=1)
    kept = [
        # A live session and the rotated token before it: presenting that one is the theft signal.
        token(user_id, live_family, now),
        token(user_id, live_family, now, revoked_ago=long_ago, rotated=True),
        # Logged out yesterday: kept for the record a while.
        token(user_id, recent_logout, now, revoked_ago=timedelta(days=1)),
    ]
    pruned = [
        token(user_id, uuid.uuid4(), now, expires_in=-timedelta(seconds=1)),
        token(user_id, uuid.uuid4(), now, expires_in=-timedelta(days=30)),
        token(user_id, old_logout, now, revoked_ago=long_ago, rotated=True),
        token(user_id, old_logout, now, revoked_ago=long_ago),
    ]
    async with database.session_scope() as session:
        session.add(User(id=user_id, email=f"{user_id.hex}@example.com", password_hash="x"))
        await session.flush()
        session.add_all([*kept, *pruned])

    assert await prune_refresh_tokens(database, now, batch_size=3) == len(pruned)
    assert await remaining_jtis(database) == {row.jti for row in kept}
    assert await prune_refresh_tokens(database, now) == 0  # idempotent


async def test_one_run_deletes_a_bounded_number_of_batches(database: Database) -> None:
    now = utcnow()
    user_id = uuid.uuid4()
    async with database.session_scope() as session:
        session.add(User(id=user_id, email=f"{user_id.hex}@example.com", password_hash="x"))
        await session.flush()
        session.add_all(
            token(user_id, uuid.uuid4(), now, expires_in=-timedelta(hours=1)) for _ in range(7)
        )
    assert await prune_refresh_tokens(database, now, batch_size=2, max_batches=2) == 4
    assert await prune_refresh_tokens(database, now, batch_size=2, max_batches=10) == 3
    async with database.session_scope() as session:
        assert (await session.execute(select(func.count(RefreshToken.id)))).scalar_one() == 0


def test_beat_prunes_refresh_tokens_every_hour(settings: Settings) -> None:
    app = create_celery(settings)
    entry = app.conf.beat_schedule["prune-refresh-tokens"]
    assert entry["task"] == "autogrid.auth.tasks.prune_refresh_tokens"
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 3600.0


async def test_the_task_prunes_the_configured_database(settings: Settings, db: Database) -> None:
    now = utcnow()
    user_id = uuid.uuid4()
    async with db.session_scope() as session:
        session.add(User(id=user_id, email=f"{user_id.hex}@example.com", password_hash="x"))
        await session.flush()
        session.add(token(user_id, uuid.uuid4(), now, expires_in=-timedelta(minutes=5)))
        session.add(token(user_id, uuid.uuid4(), now))
    app = create_celery(settings)
    app.loader.import_default_modules()
    # The task runs its own event loop, so it runs in a thread of its own here.
    result = await asyncio.to_thread(app.tasks["autogrid.auth.tasks.prune_refresh_tokens"].apply)
    assert result.get() == 1
    assert len(await remaining_jtis(db)) == 1
