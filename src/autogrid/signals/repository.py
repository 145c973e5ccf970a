"""SQL of the signals domain: sources, their target bots, and the signals themselves."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.models import Bot, ExchangeCredential, Signal, SignalSource, SignalSourceBot
from autogrid.signals.outcomes import SignalOutcome


async def get_source(
    session: AsyncSession, user_id: uuid.UUID, source_id: uuid.UUID, *, for_update: bool = False
) -> SignalSource | None:
    query = select(SignalSource).where(
        SignalSource.id == source_id, SignalSource.user_id == user_id
    )
    if for_update:
        query = query.with_for_update()
    source: SignalSource | None = await session.scalar(query)
    return source


async def claim_source(
    session: AsyncSession, source_id: uuid.UUID, token_hash: str, at: datetime
) -> SignalSource | None:
    """The source, if still enabled and still opened by this token hash, its ``last_signal_at``
    set: one UPDATE that locks its row until the transaction ends, so posts to one source take
    their duplicate decisions one after the other. A rotation committed while it waited is seen
    (the row is re-checked after the wait on PostgreSQL; SQLite has one writer at a time)."""
    source: SignalSource | None = await session.scalar(
        update(SignalSource)
        .where(
            SignalSource.id == source_id,
            SignalSource.token_hash == token_hash,
            SignalSource.enabled.is_(True),
        )
        .values(last_signal_at=at)
        .returning(SignalSource)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return source


async def list_sources(
    session: AsyncSession, user_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[Sequence[SignalSource], int]:
    query = select(SignalSource).where(SignalSource.user_id == user_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(SignalSource.created_at, SignalSource.id).limit(limit).offset(offset)
    )
    return rows.all(), total or 0


def add(session: AsyncSession, row: SignalSource | Signal) -> None:
    session.add(row)


async def delete_source(session: AsyncSession, source: SignalSource) -> None:
    await session.delete(source)


async def credential_owned(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(ExchangeCredential.id).where(
            ExchangeCredential.id == credential_id, ExchangeCredential.user_id == user_id
        )
    )
    return found is not None


async def smart_trade_template(
    session: AsyncSession, source_id: uuid.UUID
) -> dict[str, Any] | None:
    template: dict[str, Any] | None = await session.scalar(
        select(SignalSource.smart_trade).where(SignalSource.id == source_id)
    )
    return template


async def target_ids(session: AsyncSession, source_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await session.scalars(
        select(SignalSourceBot.bot_id)
        .where(SignalSourceBot.source_id == source_id)
        .order_by(SignalSourceBot.bot_id)
    )
    return list(rows.all())


async def targets_of(
    session: AsyncSession, source_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    found: dict[uuid.UUID, list[uuid.UUID]] = {source_id: [] for source_id in source_ids}
    if not source_ids:
        return found
    rows = await session.execute(
        select(SignalSourceBot.source_id, SignalSourceBot.bot_id)
        .where(SignalSourceBot.source_id.in_(source_ids))
        .order_by(SignalSourceBot.bot_id)
    )
    for source_id, bot_id in rows.all():
        found[source_id].append(bot_id)
    return found


async def owned_bot_ids(
    session: AsyncSession, user_id: uuid.UUID, bot_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    rows = await session.scalars(select(Bot.id).where(Bot.user_id == user_id, Bot.id.in_(bot_ids)))
    return set(rows.all())


async def set_targets(
    session: AsyncSession, source_id: uuid.UUID, bot_ids: Collection[uuid.UUID]
) -> None:
    await session.execute(delete(SignalSourceBot).where(SignalSourceBot.source_id == source_id))
    session.add_all(SignalSourceBot(source_id=source_id, bot_id=bot_id) for bot_id in bot_ids)
    await session.flush()


async def has_alert(session: AsyncSession, source_id: uuid.UUID, alert_id: str) -> bool:
    """An earlier signal of this source with this alert id that was not itself refused."""
    found = await session.scalar(
        select(
            exists().where(
                Signal.source_id == source_id,
                Signal.alert_id == alert_id,
                Signal.outcome.not_in(NOT_COUNTED),
            )
        )
    )
    return bool(found)


async def has_body_since(
    session: AsyncSession, source_id: uuid.UUID, body_hash: str, since: datetime
) -> bool:
    found = await session.scalar(
        select(
            exists().where(
                Signal.source_id == source_id,
                Signal.body_hash == body_hash,
                Signal.received_at >= since,
                Signal.outcome.not_in(NOT_COUNTED),
            )
        )
    )
    return bool(found)


# Posts that never counted as the signal: a forbidden address's, an unparsable or stale one's
# (a sender may fix and resend the same alert). A duplicate points at one that counted.
NOT_COUNTED = (
    SignalOutcome.FORBIDDEN_IP.value,
    SignalOutcome.UNPARSABLE.value,
    SignalOutcome.STALE.value,
    SignalOutcome.DUPLICATE.value,
)


async def get_signal(session: AsyncSession, user_id: uuid.UUID, signal_id: int) -> Signal | None:
    signal: Signal | None = await session.scalar(
        select(Signal).where(Signal.id == signal_id, Signal.user_id == user_id)
    )
    return signal


async def lock_signal(session: AsyncSession, signal_id: int) -> Signal | None:
    """The signal row locked for its execution; None if missing or another worker has it."""
    signal: Signal | None = await session.scalar(
        select(Signal)
        .where(Signal.id == signal_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return signal


async def signals_after(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    after_id: int,
    source_id: uuid.UUID | None,
    outcomes: Collection[str],
    limit: int,
) -> Sequence[Signal]:
    query = select(Signal).where(Signal.user_id == user_id, Signal.id > after_id)
    if source_id is not None:
        query = query.where(Signal.source_id == source_id)
    if outcomes:
        query = query.where(Signal.outcome.in_(outcomes))
    rows = await session.scalars(query.order_by(Signal.id).limit(limit))
    return rows.all()


async def waiting_since(
    session: AsyncSession, cutoffs: Mapping[SignalOutcome, datetime], limit: int
) -> list[int]:
    """Signals still in one of these outcomes, received before its cutoff: their execution
    message may be lost."""
    if not cutoffs:
        return []
    rows = await session.scalars(
        select(Signal.id)
        .where(
            or_(
                *(
                    and_(Signal.outcome == outcome.value, Signal.received_at < before)
                    for outcome, before in cutoffs.items()
                )
            )
        )
        .order_by(Signal.id)
        .limit(limit)
    )
    return list(rows.all())


async def source_id_by_token(session: AsyncSession, token_hash: str) -> uuid.UUID | None:
    """The enabled source this token hash opens, read without a lock (whose budget a post
    spends; the post itself then claims the source)."""
    found: uuid.UUID | None = await session.scalar(
        select(SignalSource.id).where(
            SignalSource.token_hash == token_hash, SignalSource.enabled.is_(True)
        )
    )
    return found


async def prune_before(session: AsyncSession, cutoff: datetime, batch: int) -> int:
    """Delete up to ``batch`` of the oldest signals received before ``cutoff``; how many went.
    Ids grow with arrival, so the primary key finds the oldest first."""
    oldest = (
        select(Signal.id).where(Signal.received_at < cutoff).order_by(Signal.id).limit(batch)
    ).scalar_subquery()
    result = await session.execute(
        delete(Signal).where(Signal.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
