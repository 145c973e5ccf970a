"""A batch's leases: taken together (free ones, then expired ones; a held one is left alone),
given back together when the ticks are quiet, and a lease that waited for its turn is checked
before its tick runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from autogrid.core.db import Database
from autogrid.engine.context import RuntimeContext
from autogrid.models import Bot
from autogrid.scheduling import repository as leases
from autogrid.scheduling.claims import tick_many
from autogrid.scheduling.lease import Lease, QuietReleases
from autogrid.scheduling.ticking import tick_bot
from tests.support.factories import load_bot, make_bot, make_user, set_bot

TTL = timedelta(seconds=60)


async def held_by(db: Database, bot_id: uuid.UUID, owner: str, expires: datetime) -> None:
    await set_bot(db, bot_id, lease_owner=owner, lease_expires_at=expires)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"], indirect=True)
async def test_a_batch_takes_free_and_expired_leases_and_leaves_held_ones(
    database: Database,
) -> None:
    now = datetime.now(UTC)
    user_id = await make_user(database)
    free, forward, held, expired = [
        await make_bot(database, user_id, status="stopped") for _ in range(4)
    ]
    await held_by(database, held, "other", now + timedelta(seconds=30))
    await held_by(database, expired, "dead", now - timedelta(seconds=1))
    await set_bot(database, forward, next_tick_at=now + timedelta(hours=1))

    async with database.session_scope() as session:
        taken = await leases.take_leases(session, [free, forward, held, expired], "me", now, TTL)

    assert {bot_id: t.taken_over for bot_id, t in taken.items()} == {
        free: False,
        forward: False,
        expired: True,  # its holder died: the new one distrusts what it finds
    }
    assert all(t.bot.lease_owner == "me" for t in taken.values())
    assert (await load_bot(database, held)).lease_owner == "other"

    sooner = now + timedelta(seconds=5)
    releases = [(free, None), (forward, sooner), (expired, None), (held, None)]
    await leases.release_leases_now(database.engine, "me", now, releases)

    for bot_id in (free, forward, expired):
        bot = await load_bot(database, bot_id)
        assert (bot.lease_owner, bot.lease_expires_at) == (None, None)
        assert bot.last_tick_at is not None
    assert (await load_bot(database, forward)).next_tick_at == sooner  # brought forward only
    assert (await load_bot(database, held)).lease_owner == "other"  # not ours to give back


async def test_a_bot_row_locked_by_another_transaction_is_skipped_not_waited_for(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    user_id = await make_user(db)
    first, locked, referenced, last = sorted(
        [await make_bot(db, user_id, status="stopped") for _ in range(4)]
    )
    await held_by(db, last, "dead", now - timedelta(seconds=1))

    # Another transaction holds one row (an edit of the bot, say, not committed yet) and
    # only references another (an insert of its order checks the key: FOR KEY SHARE).
    async with db.engine.connect() as other, other.begin():
        await other.execute(select(Bot.id).where(Bot.id == locked).with_for_update())
        key_share = select(Bot.id).where(Bot.id == referenced)
        await other.execute(key_share.with_for_update(read=True, key_share=True))
        async with db.session_scope() as session:
            # The guard only fails the test: a take that waits on the lock never returns.
            bots = [first, locked, referenced, last]
            taken = await asyncio.wait_for(
                leases.take_leases(session, bots, "me", now, TTL), timeout=60
            )

    assert {bot_id: t.taken_over for bot_id, t in taken.items()} == {
        first: False,
        referenced: False,
        last: True,
    }
    assert (await load_bot(db, locked)).lease_owner is None  # taken by a later batch
    async with db.session_scope() as session:
        again = await leases.take_leases(session, [locked], "me", now, TTL)
    assert list(again) == [locked]


@pytest.mark.parametrize("database", ["postgresql", "sqlite"], indirect=True)
async def test_quiet_releases_that_bring_ticks_forward_go_back_in_one_statement(
    database: Database,
) -> None:
    now = datetime.now(UTC)
    user_id = await make_user(database)
    later, sooner, unset, plain = [
        await make_bot(database, user_id, status="stopped") for _ in range(4)
    ]
    hour = now + timedelta(hours=1)
    for bot_id, next_tick in ((later, hour), (sooner, now), (unset, None), (plain, hour)):
        await set_bot(database, bot_id, next_tick_at=next_tick)
    async with database.session_scope() as session:
        await leases.take_leases(session, [later, sooner, unset, plain], "me", now, TTL)
    wanted = {later: now + timedelta(seconds=5), sooner: now + timedelta(seconds=7)}
    wanted[unset] = now + timedelta(seconds=9)
    updates: list[str] = []

    def note(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        updates.extend([statement] if statement.lstrip().startswith("UPDATE bots") else [])

    event.listen(database.engine.sync_engine, "before_cursor_execute", note)
    try:
        releases = [*wanted.items(), (plain, None)]
        await leases.release_leases_now(database.engine, "me", now, releases)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", note)

    assert len(updates) == 1
    next_ticks = {bot_id: (await load_bot(database, bot_id)).next_tick_at for bot_id in wanted}
    assert next_ticks == {later: wanted[later], sooner: now, unset: wanted[unset]}
    assert (await load_bot(database, plain)).next_tick_at == hour  # left alone
    for bot_id in (later, sooner, unset, plain):
        assert (await load_bot(database, bot_id)).lease_owner is None


async def test_tick_many_ticks_each_bot_once_and_gives_every_lease_back(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID
) -> None:
    mine = [await make_bot(db, user_id, status="stopped") for _ in range(3)]
    held = await make_bot(db, user_id, status="stopped")
    await held_by(db, held, "other", ctx.clock() + timedelta(seconds=30))

    ran = await tick_many(ctx, [*mine, mine[0], held, mine[1]])

    assert ran == 3
    for bot_id in mine:
        assert (await load_bot(db, bot_id)).lease_owner is None
    assert (await load_bot(db, held)).lease_owner == "other"


async def test_a_lease_lost_while_waiting_for_its_turn_is_not_ticked(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID
) -> None:
    bot_id = await make_bot(db, user_id, status="stopped")
    lease = (await Lease.take_many(ctx, [bot_id]))[bot_id]
    # It waited past its lifetime behind slow ticks; another worker took the bot meanwhile.
    lease._renewed = time.monotonic() - TTL.total_seconds()
    await held_by(db, bot_id, "other", ctx.clock() + timedelta(seconds=30))

    assert (await tick_bot(ctx, bot_id, lease)).ran is False
    assert (await load_bot(db, bot_id)).lease_owner == "other"


async def test_a_lease_that_waited_is_renewed_before_its_tick(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID
) -> None:
    bot_id = await make_bot(db, user_id, status="stopped")
    lease = (await Lease.take_many(ctx, [bot_id]))[bot_id]
    lease._renewed = time.monotonic() - TTL.total_seconds()  # expired, and nobody took it

    assert (await tick_bot(ctx, bot_id, lease)).ran is True
    assert (await load_bot(db, bot_id)).lease_owner is None


Releases = Sequence[tuple[uuid.UUID, datetime | None]]


async def test_quiet_releases_queued_together_share_one_statement(
    ctx: RuntimeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[uuid.UUID]] = []

    async def release(_engine: Any, _owner: str, _now: datetime, group: Releases) -> None:
        calls.append([bot_id for bot_id, _ in group])

    monkeypatch.setattr(leases, "release_leases_now", release)
    releases = QuietReleases(ctx, "me")
    bots = [uuid.uuid4() for _ in range(5)]

    await asyncio.gather(*(releases.release(bot_id, None) for bot_id in bots))
    await releases.release(bots[0], None)  # after the group: a statement of its own

    assert calls == [bots, [bots[0]]]


async def test_a_failed_quiet_release_is_heard_by_every_tick_in_its_group(
    ctx: RuntimeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def release(*_: Any) -> None:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(leases, "release_leases_now", release)
    releases = QuietReleases(ctx, "me")

    outcomes = await asyncio.gather(
        *(releases.release(uuid.uuid4(), None) for _ in range(3)), return_exceptions=True
    )

    assert [type(outcome) for outcome in outcomes] == [ConnectionError] * 3
