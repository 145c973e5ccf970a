"""SQL for when and where bots step: each bot's lease (one holder at a time) and beat's claim
of the bots whose tick is due.

Leases and claims are single conditional UPDATEs, so they are atomic on PostgreSQL and SQLite
alike; PostgreSQL additionally claims and takes a batch's leases with ``FOR UPDATE SKIP
LOCKED`` so concurrent claimers (two beats, two workers' batches) never wait on each other,
never deadlock and never take the same bot.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, exists, func, literal, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from autogrid.models import Bot, SignalDelivery, StrategyInboxEntry


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return result.rowcount


# --- leases -------------------------------------------------------------------------------


async def acquire_lease(
    session: AsyncSession, bot_id: uuid.UUID, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Take the bot's lease unless someone holds an unexpired one."""
    return await take_lease(session, bot_id, owner, now, ttl) is not None


def _take(condition: Any, *, many: bool = False) -> Any:
    which = Bot.id.in_(bindparam("bots", expanding=True)) if many else Bot.id == bindparam("bot")
    return (
        update(Bot)
        .where(which, condition)
        .values(
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("expires"),
            updated_at=Bot.updated_at,  # a tick is not an edit of the bot
        )
        .returning(Bot, _WAITING_FILLS, _SIGNALS_QUEUED)
        # Nothing of the session to synchronize (it is fresh): the returned rows are the state.
        .execution_options(populate_existing=True, synchronize_session=False)
    )


# Fills recorded for the strategy and not seen by it yet, returned with the lease.
_WAITING_FILLS = (
    select(func.count()).where(StrategyInboxEntry.bot_id == Bot.id).correlate(Bot).scalar_subquery()
)
# Signals queued for the bot and not acted on yet, returned with the lease: its step reads its
# queue only then (an index probe here instead of a query of the queue at every tick).
_SIGNALS_QUEUED = (
    exists()
    .where(SignalDelivery.bot_id == Bot.id, SignalDelivery.consumed_at.is_(None))
    .correlate(Bot)
)
# Built once: every tick runs them. A free lease first; else one expired (its holder died).
_TAKE_FREE = _take(Bot.lease_owner.is_(None))
_EXPIRED = or_(Bot.lease_expires_at.is_(None), Bot.lease_expires_at < bindparam("now"))
_TAKE_EXPIRED = _take(_EXPIRED)
_TAKE_FREE_MANY = _take(Bot.lease_owner.is_(None), many=True)
_TAKE_EXPIRED_MANY = _take(_EXPIRED, many=True)


def _take_many_skipping_locked() -> Any:
    """PostgreSQL's batch take, one statement: the takeable rows locked in id order, skipping
    any row another transaction holds (an edit of the bot, a tick's own writes) rather than
    waiting for it, so one busy bot never stalls the batch, and two batches that overlap lock
    in the same order (no deadlock). The previous holder comes back with each row: one there
    means the lease had expired (``taken_over``)."""
    candidates = (
        select(Bot.id, Bot.lease_owner.label("previous_owner"))
        .where(
            Bot.id.in_(bindparam("bots", expanding=True)),
            or_(Bot.lease_owner.is_(None), _EXPIRED),
        )
        .order_by(Bot.id)
        # The lock the UPDATE takes anyway (NO KEY UPDATE): a row another transaction only
        # references (an insert of its bot's order or event locks it FOR KEY SHARE) is taken.
        .with_for_update(skip_locked=True, key_share=True)
        .cte("takeable")
    )
    return (
        update(Bot)
        .where(Bot.id == candidates.c.id)
        .values(
            lease_owner=bindparam("owner"),
            lease_expires_at=bindparam("expires"),
            updated_at=Bot.updated_at,  # a tick is not an edit of the bot
        )
        .returning(Bot, _WAITING_FILLS, _SIGNALS_QUEUED, candidates.c.previous_owner.is_not(None))
        .execution_options(populate_existing=True, synchronize_session=False)
    )


_TAKE_MANY_SKIPPING_LOCKED = _take_many_skipping_locked()


@dataclass(frozen=True, slots=True)
class Taken:
    bot: Bot
    taken_over: bool
    waiting_fills: int
    signals_queued: bool = False


async def take_lease(
    session: AsyncSession, bot_id: uuid.UUID, owner: str, now: datetime, ttl: timedelta
) -> Taken | None:
    """The bot row (with its count of fills waiting for the strategy, and whether signals are
    queued for it) if the lease is ours now.

    A free lease was given back by a tick that ended; an expired one was left by a worker that
    died (or stalled): ``taken_over`` tells the new holder to distrust what it finds.
    """
    params = {"bot": bot_id, "owner": owner, "expires": now + ttl}
    row = (await session.execute(_TAKE_FREE, params)).first()
    if row is not None:
        return Taken(row[0], False, int(row[1]), bool(row[2]))
    row = (await session.execute(_TAKE_EXPIRED, {**params, "now": now})).first()
    return Taken(row[0], True, int(row[1]), bool(row[2])) if row is not None else None


async def take_leases(
    session: AsyncSession,
    bot_ids: Collection[uuid.UUID],
    owner: str,
    now: datetime,
    ttl: timedelta,
) -> dict[uuid.UUID, Taken]:
    """``take_lease`` for many bots at once, all for ``owner``: the ones taken, by id.

    On PostgreSQL one statement takes them all, skipping rows locked by other transactions
    (those bots are simply not taken this time). SQLite has no row locks (its one writer
    serialises transactions): one statement takes the free leases, and the expired ones are
    tried only if some were not free."""
    taken: dict[uuid.UUID, Taken] = {}
    params: dict[str, Any] = {"bots": list(bot_ids), "owner": owner, "expires": now + ttl}
    if _is_postgres(session):
        rows = await session.execute(_TAKE_MANY_SKIPPING_LOCKED, {**params, "now": now})
        for bot, waiting, queued, taken_over in rows:
            taken[bot.id] = Taken(bot, bool(taken_over), int(waiting), bool(queued))
        return taken
    for bot, waiting, queued in await session.execute(_TAKE_FREE_MANY, params):
        taken[bot.id] = Taken(bot, False, int(waiting), bool(queued))
    rest = [bot_id for bot_id in bot_ids if bot_id not in taken]
    if rest:
        params = {**params, "bots": rest, "now": now}
        for bot, waiting, queued in await session.execute(_TAKE_EXPIRED_MANY, params):
            taken[bot.id] = Taken(bot, True, int(waiting), bool(queued))
    return taken


async def renew_lease(
    session: AsyncSession, bot_id: uuid.UUID, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Extend a lease we still hold; False if it expired and someone else took it."""
    result = await session.execute(
        update(Bot)
        .where(Bot.id == bot_id, Bot.lease_owner == owner)
        .values(lease_expires_at=now + ttl, updated_at=Bot.updated_at)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def _brought_forward(dialect: str, wanted: Any) -> Any:
    """The bot's next tick, or ``wanted`` if that is sooner (or there is none)."""
    earlier = (
        func.least(Bot.next_tick_at, wanted)
        if dialect == "postgresql"
        else func.min(Bot.next_tick_at, wanted)
    )
    return func.coalesce(earlier, wanted)


def _release(dialect: str, brings_forward: bool) -> Any:
    values: dict[str, Any] = {
        "lease_owner": None,
        "lease_expires_at": None,
        "last_tick_at": bindparam("now"),
        "updated_at": Bot.updated_at,
    }
    if brings_forward:
        wanted = bindparam("next_at", type_=Bot.__table__.c.next_tick_at.type)
        values["next_tick_at"] = _brought_forward(dialect, wanted)
    return (
        update(Bot)
        .where(Bot.id == bindparam("bot"), Bot.lease_owner == bindparam("owner"))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


_RELEASES: dict[tuple[str, bool], Any] = {}


async def release_lease(
    session: AsyncSession,
    bot_id: uuid.UUID,
    owner: str,
    now: datetime,
    next_tick_at: datetime | None,
) -> None:
    """Give the lease back; ``next_tick_at`` may only bring the next tick forward."""
    key = (session.get_bind().dialect.name, next_tick_at is not None)
    statement = _RELEASES.get(key)
    if statement is None:
        statement = _RELEASES[key] = _release(*key)
    params: dict[str, Any] = {"bot": bot_id, "owner": owner, "now": now}
    if next_tick_at is not None:
        params["next_at"] = next_tick_at
    await session.execute(statement, params)


async def release_lease_now(
    engine: AsyncEngine,
    bot_id: uuid.UUID,
    owner: str,
    now: datetime,
    next_tick_at: datetime | None,
) -> None:
    """``release_lease`` as one autocommitted statement: one round trip instead of three."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        key = (engine.dialect.name, next_tick_at is not None)
        statement = _RELEASES.get(key)
        if statement is None:
            statement = _RELEASES[key] = _release(*key)
        params: dict[str, Any] = {"bot": bot_id, "owner": owner, "now": now}
        if next_tick_at is not None:
            params["next_at"] = next_tick_at
        await autocommit.execute(statement, params)


_RELEASE_MANY = (
    update(Bot)
    .where(Bot.id.in_(bindparam("bots", expanding=True)), Bot.lease_owner == bindparam("owner"))
    .values(
        lease_owner=None,
        lease_expires_at=None,
        last_tick_at=bindparam("now"),
        updated_at=Bot.updated_at,
    )
    .execution_options(synchronize_session=False)
)


def _release_many_forward(dialect: str, forward: Sequence[tuple[uuid.UUID, datetime]]) -> Any:
    """``_RELEASE_MANY`` that also brings each of ``forward``'s bots' next tick forward to its
    own time (a CASE on the bot id; the other bots' next tick stays)."""
    at_type = Bot.__table__.c.next_tick_at.type
    next_tick = case(
        *(
            (Bot.id == bot_id, _brought_forward(dialect, literal(next_at, at_type)))
            for bot_id, next_at in forward
        ),
        else_=Bot.next_tick_at,
    )
    return _RELEASE_MANY.values(next_tick_at=next_tick)


async def release_leases_now(
    engine: AsyncEngine,
    owner: str,
    now: datetime,
    releases: Sequence[tuple[uuid.UUID, datetime | None]],
) -> None:
    """``release_lease_now`` of many of ``owner``'s leases, (bot id, next tick at) each, in one
    autocommitted statement."""
    if not releases:
        return
    forward = [(bot_id, next_at) for bot_id, next_at in releases if next_at is not None]
    statement = _release_many_forward(engine.dialect.name, forward) if forward else _RELEASE_MANY
    params = {"bots": [bot_id for bot_id, _ in releases], "owner": owner, "now": now}
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(statement, params)


# --- due ticks ----------------------------------------------------------------------------


async def claim_due_bots(
    session: AsyncSession, statuses: Collection[str], now: datetime, limit: int
) -> list[uuid.UUID]:
    """Bots whose next tick is due, each pushed ``tick_interval_seconds`` ahead: whoever commits
    this claim sends their ticks; a concurrent claimer cannot take them too."""
    due = and_(
        Bot.status.in_(list(statuses)),
        or_(Bot.next_tick_at.is_(None), Bot.next_tick_at <= now),
    )
    query = (
        select(Bot.id, Bot.tick_interval_seconds)
        .where(due)
        .order_by(Bot.next_tick_at.nulls_first())
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Bot)
    candidates = (await session.execute(query)).all()
    claimed: list[uuid.UUID] = []
    for bot_id, interval in candidates:
        # Conditional even under the row lock: on SQLite this is what makes the claim atomic.
        result = await session.execute(
            update(Bot)
            .where(Bot.id == bot_id, due)
            .values(next_tick_at=now + timedelta(seconds=interval))
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) == 1:
            claimed.append(bot_id)
    return claimed
