"""Signal sources (create, read, change, rotate, delete) and the user's signals, read by cursor.

Every source and signal belongs to one user: another user's is exactly as missing as one that
never existed (404). A source's targets must be the user's own bots. Services flush; the request
commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.core.errors import NotFound, Unprocessable
from autogrid.core.pagination import PageParams
from autogrid.core.sqltypes import utcnow
from autogrid.models import Signal, SignalSource, UserIdentity
from autogrid.signals import repository
from autogrid.signals.grammar import parse_signal
from autogrid.signals.model import SignalParseError
from autogrid.signals.outcomes import SignalOutcome
from autogrid.signals.paths import SIGNALS_PATH
from autogrid.signals.schemas import (
    ParseAnswer,
    SourceCreate,
    SourceRead,
    SourceUpdate,
    SourceWithToken,
)
from autogrid.signals.tokens import display_prefix, hash_token, new_token
from autogrid.signals.values import signal_json
from autogrid.smart_trades.schemas import SmartTradeTemplate


def source_read(source: SignalSource, bot_ids: list[uuid.UUID]) -> SourceRead:
    return SourceRead(
        id=source.id,
        name=source.name,
        token_prefix=source.token_prefix,
        bot_ids=bot_ids,
        allowed_ips=list(source.allowed_ips),
        dedup_window_seconds=source.dedup_window_seconds,
        max_lag_seconds=source.max_lag_seconds,
        enabled=source.enabled,
        smart_trade=source.smart_trade,
        created_at=source.created_at,
        rotated_at=source.rotated_at,
    )


def _with_token(read: SourceRead, token: str) -> SourceWithToken:
    return SourceWithToken(**read.model_dump(), token=token, url_path=SIGNALS_PATH + token)


async def _check_targets(
    session: AsyncSession, user: UserIdentity, bot_ids: list[uuid.UUID]
) -> None:
    owned = await repository.owned_bot_ids(session, user.id, bot_ids)
    if missing := [bot_id for bot_id in bot_ids if bot_id not in owned]:
        # Another user's bot is as missing as one that never existed.
        raise NotFound("bot not found", details={"bot_ids": [str(b) for b in missing]})


async def _check_template(
    session: AsyncSession, user: UserIdentity, template: SmartTradeTemplate | None
) -> dict[str, Any] | None:
    """The template as stored; its credential must be the user's (else as missing as none)."""
    if template is None:
        return None
    if template.credential_id is not None and not await repository.credential_owned(
        session, user.id, template.credential_id
    ):
        raise NotFound(
            "credential not found", details={"credential_id": str(template.credential_id)}
        )
    return template.model_dump(mode="json")


async def create_source(
    session: AsyncSession, user: UserIdentity, body: SourceCreate
) -> SourceWithToken:
    targets = list(dict.fromkeys(body.bot_ids))
    await _check_targets(session, user, targets)
    template = await _check_template(session, user, body.smart_trade)
    token = new_token()
    source = SignalSource(
        id=uuid.uuid4(),
        user_id=user.id,
        name=body.name,
        token_hash=hash_token(token),
        token_prefix=display_prefix(token),
        allowed_ips=list(dict.fromkeys(body.allowed_ips)),
        dedup_window_seconds=body.dedup_window_seconds,
        max_lag_seconds=body.max_lag_seconds,
        enabled=body.enabled,
        smart_trade=template,
        created_at=utcnow(),
    )
    repository.add(session, source)
    await session.flush()
    await repository.set_targets(session, source.id, targets)
    return _with_token(source_read(source, sorted(targets)), token)


async def get_source(
    session: AsyncSession, user: UserIdentity, source_id: uuid.UUID, *, for_update: bool = False
) -> SignalSource:
    source = await repository.get_source(session, user.id, source_id, for_update=for_update)
    if source is None:
        raise NotFound("signal source not found")
    return source


async def read_source(
    session: AsyncSession, user: UserIdentity, source_id: uuid.UUID
) -> SourceRead:
    source = await get_source(session, user, source_id)
    return source_read(source, await repository.target_ids(session, source.id))


async def list_sources(
    session: AsyncSession, user: UserIdentity, page: PageParams
) -> tuple[list[SourceRead], int]:
    rows, total = await repository.list_sources(
        session, user.id, limit=page.limit, offset=page.offset
    )
    targets = await repository.targets_of(session, [row.id for row in rows])
    return [source_read(row, targets[row.id]) for row in rows], total


async def update_source(
    session: AsyncSession, user: UserIdentity, source_id: uuid.UUID, body: SourceUpdate
) -> SourceRead:
    source = await get_source(session, user, source_id, for_update=True)
    changes = body.model_dump(exclude_unset=True)
    if body.bot_ids is not None:
        targets = list(dict.fromkeys(body.bot_ids))
        await _check_targets(session, user, targets)
        await repository.set_targets(session, source.id, targets)
    for field in ("name", "dedup_window_seconds", "max_lag_seconds", "enabled"):
        if field in changes:
            setattr(source, field, changes[field])
    if body.allowed_ips is not None:
        source.allowed_ips = list(dict.fromkeys(body.allowed_ips))
    if "smart_trade" in changes:
        source.smart_trade = await _check_template(session, user, body.smart_trade)
    await session.flush()
    targets = await repository.target_ids(session, source.id)
    if not targets and source.smart_trade is None:
        # As at creation: a source acting on nothing would fail every signal it accepts.
        raise Unprocessable("give bot_ids, a smart_trade template, or both")
    return source_read(source, targets)


async def rotate_token(
    session: AsyncSession, user: UserIdentity, source_id: uuid.UUID
) -> SourceWithToken:
    """A new token; the old one stops working as this commits (its hash is gone)."""
    source = await get_source(session, user, source_id, for_update=True)
    token = new_token()
    source.token_hash = hash_token(token)
    source.token_prefix = display_prefix(token)
    source.rotated_at = utcnow()
    await session.flush()
    read = source_read(source, await repository.target_ids(session, source.id))
    return _with_token(read, token)


async def delete_source(session: AsyncSession, user: UserIdentity, source_id: uuid.UUID) -> None:
    """The source and its signals go (the journal's events about them stay)."""
    source = await get_source(session, user, source_id, for_update=True)
    await repository.delete_source(session, source)
    await session.flush()


@dataclass(frozen=True, slots=True)
class SignalPage:
    signals: Sequence[Signal]
    next_after_id: int
    has_more: bool


async def list_signals(
    session: AsyncSession,
    user: UserIdentity,
    *,
    after_id: int,
    limit: int,
    source_id: uuid.UUID | None = None,
    outcomes: Collection[SignalOutcome] = (),
) -> SignalPage:
    """The user's signals after ``after_id``, oldest first; another user's source is a 404."""
    if source_id is not None:
        await get_source(session, user, source_id)
    rows = await repository.signals_after(
        session,
        user.id,
        after_id=after_id,
        source_id=source_id,
        outcomes=[o.value for o in outcomes],
        limit=limit + 1,
    )
    page = rows[:limit]
    return SignalPage(page, page[-1].id if page else after_id, len(rows) > limit)


async def get_signal(session: AsyncSession, user: UserIdentity, signal_id: int) -> Signal:
    signal = await repository.get_signal(session, user.id, signal_id)
    if signal is None:
        raise NotFound("signal not found")
    return signal


def dry_run(body: str, default_symbol: str | None) -> ParseAnswer:
    """What a message would ask for, without storing or doing anything."""
    try:
        parsed = parse_signal(body, default_symbol=default_symbol, now=utcnow())
    except SignalParseError as exc:
        return ParseAnswer(ok=False, error=exc.message, position=exc.position)
    return ParseAnswer(ok=True, signal=signal_json(parsed))
