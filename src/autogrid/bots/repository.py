"""SQL for bots, their events, and the rows a bot's validation and deletion look at."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, case, cast, delete, func, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.state import GRID_WAIT_KEYS
from autogrid.core.db import Connectable, select_rows
from autogrid.core.paged_rows import PagedQuery, paged_query, run_paged_rows
from autogrid.models import Bot, ExchangeCredential, Fill, Order, Plan, User
from autogrid.models.bot import BotType
from autogrid.models.paper import PaperAccount, bot_account_label
from autogrid.orders.store import NON_TERMINAL_STATUSES


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> str:
    """Serialise a user's bot creations, so two concurrent creates cannot both pass the limit;
    returns the user's plan as the locked row has it."""
    plan = await session.scalar(select(User.plan).where(User.id == user_id).with_for_update())
    return plan or Plan.FREE


async def count_bots(session: AsyncSession, user_id: uuid.UUID) -> int:
    total = await session.scalar(select(func.count()).where(Bot.user_id == user_id))
    return total or 0


# Built once: building a statement cost a read more than running its compiled form again.
_OWNED_BOT = select(Bot).where(Bot.id == bindparam("bot_id"), Bot.user_id == bindparam("user_id"))
_OWNED_BOT_LOCKED = _OWNED_BOT.with_for_update()
_OWNED_BOT_ID = select(Bot.id).where(
    Bot.id == bindparam("bot_id"), Bot.user_id == bindparam("user_id")
)


# A bot's read (the list, the detail) runs on the session's Core connection: rows of the table's
# columns, no ORM object built and tracked (that cost the read more than its query did).
# The state (large for a running grid: its book and ledger) only of the kinds whose read shows
# something of it: a DCA bot's recurring buys, a smart trade's progress.
# (Equalities, not ``in_``: a list in ``in_`` is an expanding parameter, rendered into the
# statement's text anew at every run, which cost a read more than its query.)
# Only the columns the read shows: a tick's bookkeeping (next tick, lease, version) left out, so a
# running bot's read row changes only when something shown does. Its JSON columns come as their
# text, which keys the read model's memory (``bot_reads``) and is decoded only on a miss.
_STATE_READ_BY = or_(Bot.type == BotType.DCA.value, Bot.type == BotType.SMART_TRADE.value)
_SHOWN_COLUMNS = (
    "id",
    "type",
    "name",
    "exchange",
    "symbol",
    "mode",
    "credential_id",
    "tick_interval_seconds",
    "status",
    "breaker_reason",
    "breaker_tripped_at",
    "error",
    "investment",
    "created_at",
    "updated_at",
    "started_at",
    "stopped_at",
    "stop_initiator",
)
_READ_COLUMNS = [
    *(Bot.__table__.c[key] for key in _SHOWN_COLUMNS),
    *(cast(Bot.__table__.c[key], Text).label(key) for key in ("paper", "config")),
    case((_STATE_READ_BY, cast(Bot.state, Text))).label("state"),
    # Of a grid's state only what waits to be placed again: the orders the exchange refused.
    *(
        case((Bot.type == BotType.GRID.value, cast(Bot.state[("strategy", key)], Text))).label(
            f"grid_{key}"
        )
        for key in GRID_WAIT_KEYS
    ),
]
# A read row's own columns: the list's rows carry the page's total after them.
READ_ROW_LENGTH = len(_READ_COLUMNS)
_OWNED_BOT_READ = select(*_READ_COLUMNS).where(
    Bot.id == bindparam("bot_id"), Bot.user_id == bindparam("user_id")
)


async def read_bot(reads: Connectable, user_id: uuid.UUID, bot_id: uuid.UUID) -> Row[Any] | None:
    """The bot's row if ``user_id`` owns it, as ``get_bot`` finds it, for reading only."""
    rows = await select_rows(reads, _OWNED_BOT_READ, {"bot_id": bot_id, "user_id": user_id})
    return rows[0] if rows else None


async def get_bot(
    session: AsyncSession, user_id: uuid.UUID, bot_id: uuid.UUID, *, for_update: bool = False
) -> Bot | None:
    """The bot if ``user_id`` owns it. ``for_update`` locks the row until the transaction ends."""
    query = _OWNED_BOT_LOCKED if for_update else _OWNED_BOT
    bot: Bot | None = await session.scalar(query, {"bot_id": bot_id, "user_id": user_id})
    return bot


async def owns_bot(reads: Connectable, user_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
    """Whether ``user_id`` owns the bot (nothing of the row is loaded; on the session's Core
    connection, as the reads: the ORM's execution cost more than the query)."""
    return bool(await select_rows(reads, _OWNED_BOT_ID, {"bot_id": bot_id, "user_id": user_id}))


async def lock_bot_row(session: AsyncSession, bot_id: uuid.UUID) -> Bot | None:
    """The bot row, freshly read and locked until the transaction ends (no owner check: for the
    runtime, which acts on its own bots)."""
    bot: Bot | None = await session.scalar(
        select(Bot)
        .where(Bot.id == bot_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return bot


@functools.cache
def _bots_page(by_status: bool, by_type: bool, stopped_by: str | None) -> PagedQuery[Any]:
    """The list statement of one combination of filters; their values are bound. Without a
    type filter, every type but smart trades (their own list, /smart-trades): a fixed condition,
    not an expanding list of the other types, which made SQLAlchemy render the statement's text
    anew at every run (that cost a list read more than its query)."""
    query = select(*_READ_COLUMNS).where(Bot.user_id == bindparam("user_id"))
    if stopped_by == "bot":  # halted or in error: by itself too, whenever that was recorded
        query = query.where(
            or_(Bot.stop_initiator == "bot", Bot.status == "halted", Bot.status == "error")
        )
    elif stopped_by is not None:
        query = query.where(Bot.stop_initiator == bindparam("stopped_by"))
    if by_status:
        query = query.where(Bot.status.in_(bindparam("statuses", expanding=True)))
    if by_type:
        query = query.where(Bot.type.in_(bindparam("types", expanding=True)))
    else:
        query = query.where(Bot.type != BotType.SMART_TRADE.value)
    return paged_query(query, [Bot.created_at.desc(), Bot.id.desc()])


async def list_bots(
    reads: Connectable,
    user_id: uuid.UUID,
    *,
    statuses: Collection[str],
    types: Collection[str],
    limit: int,
    offset: int,
    stopped_by: str | None = None,
) -> tuple[list[Row[Any]], int]:
    """The user's bots as rows, for reading only (see ``read_bot``); ``types`` empty: every
    type but smart trades."""
    query = _bots_page(bool(statuses), bool(types), stopped_by)
    values: dict[str, Any] = {"user_id": user_id}
    if statuses:
        values["statuses"] = list(statuses)
    if types:
        values["types"] = list(types)
    if stopped_by not in (None, "bot"):
        values["stopped_by"] = stopped_by
    return await run_paged_rows(reads, query, values, limit=limit, offset=offset)


def add_bot(session: AsyncSession, bot: Bot) -> None:
    session.add(bot)


async def get_credential(
    session: AsyncSession, user_id: uuid.UUID, credential_id: uuid.UUID
) -> ExchangeCredential | None:
    """The credential if ``user_id`` owns it (someone else's is indistinguishable from none)."""
    credential: ExchangeCredential | None = await session.scalar(
        select(ExchangeCredential).where(
            ExchangeCredential.id == credential_id, ExchangeCredential.user_id == user_id
        )
    )
    return credential


async def count_orders(session: AsyncSession, bot_id: uuid.UUID, statuses: Collection[str]) -> int:
    total = await session.scalar(
        select(func.count()).where(Order.bot_id == bot_id, Order.status.in_(statuses))
    )
    return total or 0


async def delete_bot(session: AsyncSession, bot: Bot) -> None:
    """Delete the bot and everything it produced.

    Orders (and their events), bot events and metrics go by ``ON DELETE CASCADE``. Fills carry no
    foreign key (a TimescaleDB hypertable cannot reference a plain table), so they go explicitly.
    So do the bot's paper accounts (its simulated balances, orders and trades cascade with
    them): left behind, the portfolio counted a deleted bot's simulated money.
    """
    await session.execute(delete(Fill).where(Fill.bot_id == bot.id))
    await session.execute(
        delete(PaperAccount).where(
            PaperAccount.user_id == bot.user_id, PaperAccount.label == bot_account_label(bot.id)
        )
    )
    await session.execute(delete(Bot).where(Bot.id == bot.id))
    session.expunge(bot)


async def count_live_orders(session: AsyncSession, bot_id: uuid.UUID) -> int:
    """How many of the bot's orders are not terminal (NEW, in flight or open)."""
    count = await session.scalar(
        select(func.count()).where(Order.bot_id == bot_id, Order.status.in_(NON_TERMINAL_STATUSES))
    )
    return count or 0


async def paper_matched_until(session: AsyncSession, account_id: uuid.UUID) -> datetime | None:
    """How far a paper account's clock has got (None: no such account)."""
    found: datetime | None = await session.scalar(
        select(PaperAccount.matched_until).where(PaperAccount.id == account_id)
    )
    return found
