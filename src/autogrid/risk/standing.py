"""The account limits as a decision reads and updates them, in the decision's transaction.

The race: two bots of one user decide at once, each on its own worker, with 9 of 10 trades
used; each counts 9 and both place the tenth. So before reading today's figures a decision
with an entry locks the user's ``account_limits`` row (``SELECT ... FOR UPDATE``) and keeps it
until its commit: the second decision waits, and once the first has committed its count (a
statement in READ COMMITTED sees every commit made before it starts) includes the first's
order. Only decisions with an entry to check take the lock, and only when the user has limits;
exits never wait on it. Lock order is always bot row, then account row (``record_decision``
locks its bot first; nothing locks them the other way round), so no deadlock. Realised P&L is
booked per bot (``bot_days``) under the bot's own lock: adding to it never waits on another
bot, and a reader sees each booking whole or not at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots.ledger import Ledger
from autogrid.events.payloads import Payload
from autogrid.events.types import EventType
from autogrid.exchanges.types import Side
from autogrid.models import AccountLimit
from autogrid.risk import repository
from autogrid.trading.account_limits import AccountLimits, AccountStanding, Breach
from autogrid.trading.strategies.base import Action, PlaceOrder, Snapshot

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


def day_of(now: datetime) -> date:
    return now.astimezone(UTC).date()


def start_of_day(now: datetime) -> datetime:
    return datetime.combine(day_of(now), time(0), tzinfo=UTC)


def limits_of(row: AccountLimit) -> AccountLimits:
    return AccountLimits(
        max_trades_per_day=row.max_trades_per_day,
        max_daily_loss=row.max_daily_loss,
        max_risk_per_trade_pct=row.max_risk_per_trade_pct,
        max_open_positions=row.max_open_positions,
    )


def has_entry(actions: Iterable[Action]) -> bool:
    return any(isinstance(a, PlaceOrder) and a.side == Side.BUY for a in actions)


def pair_equity(snapshot: Snapshot) -> Decimal:
    """What the bot's orders trade against, in quote: the account's free quote and base of the
    bot's pair at the reference price, plus what its own resting orders hold."""
    held = ZERO
    for order in snapshot.open_orders:
        buying = order.side == Side.BUY
        held += order.remaining * ((order.price or snapshot.price) if buying else snapshot.price)
    return snapshot.free_quote + snapshot.free_base * snapshot.price + held


def _holds_base(state: object) -> bool:
    ledger = state.get("ledger") if isinstance(state, dict) else None
    try:
        return Ledger.from_dict(ledger).position > 0
    except (KeyError, ValueError, ArithmeticError):
        return False


@dataclass(frozen=True, slots=True)
class Today:
    """The figures the limits count, for one user on the current UTC day."""

    day: date
    entries: int
    realized: Decimal
    open_bots: frozenset[uuid.UUID]


async def today(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> Today:
    """Today's figures, read without any lock (the portfolio shows them; a deciding bot reads
    them through ``read_standing``, under the account row's lock)."""
    entries = await repository.entries_since(session, user_id, start_of_day(now))
    realized = sum(await repository.realized_on(session, user_id, day_of(now)), ZERO)
    open_bots = await repository.bots_with_live_buys(session, user_id)
    open_bots |= await repository.bots_with_unseen_buys(session, user_id)
    states = await repository.bot_states(session, user_id)
    open_bots |= {bot for bot, state in states if _holds_base(state)}
    return Today(day_of(now), entries, realized, frozenset(open_bots))


async def read_standing(
    session: AsyncSession,
    user_id: uuid.UUID,
    bot_id: uuid.UUID,
    now: datetime,
    equity: Decimal | None,
) -> AccountStanding | None:
    """Today's figures for the user's entries, with the account row locked until the caller's
    transaction ends; None (and no lock held) when the user has no limits."""
    row = await repository.lock_account_limits(session, user_id)
    if row is None:
        return None
    limits = limits_of(row)
    if not limits.any:
        return None
    figures = await today(session, user_id, now)
    return AccountStanding(
        limits,
        figures.entries,
        figures.realized,
        len(figures.open_bots),
        bot_id in figures.open_bots,
        equity,
    )


async def book_realized(
    session: AsyncSession,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    before: Ledger,
    after: Ledger,
    now: datetime,
) -> None:
    """The realised P&L a decision's fills added, booked on today's (UTC) row of the bot."""
    change = after.realized - before.realized
    if change != 0:
        await repository.book_realized(session, bot_id, user_id, day_of(now), change)


def limit_payload(breach: Breach, tag: str, day: date) -> Payload:
    return Payload(
        EventType.ACCOUNT_LIMIT_REACHED,
        f"account limit reached, new entries refused: {breach.reason} (order {tag})",
        {
            "limit": breach.limit.value,
            "value": str(breach.value),
            "figure": str(breach.figure),
            "day": day.isoformat(),
            "tag": tag,
            "reason": breach.reason,
        },
    )


async def first_notices(
    session: AsyncSession,
    user_id: uuid.UUID,
    refused: Sequence[tuple[str, Breach]],
    now: datetime,
) -> list[Payload]:
    """The events to journal for this decision's refusals: one per limit not yet reported
    today (``account_limit_notices`` remembers the others)."""
    payloads: list[Payload] = []
    day = day_of(now)
    seen: set[str] = set()
    for tag, breach in refused:
        name = breach.limit.value
        logger.info("user %s: entry %s refused: %s", user_id, tag, breach.reason)
        if name in seen:
            continue
        seen.add(name)
        if await repository.note_limit_reached(session, user_id, day, name, now):
            payloads.append(limit_payload(breach, tag, day))
    return payloads
