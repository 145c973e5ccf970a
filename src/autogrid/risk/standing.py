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

When: as soon as a step of the bot sees the fills, whatever its status. A running bot books at
its decision; a stopping, paused or halted one (a stop's market sale, a fill of an order left
resting) at the end of its step, and a stopped one when it is marked stopped or reconciled.
Exactly once: the bot state keeps how much of its realised P&L is booked (``booked_realized``:
the ledger with every inbox fill folded in, as of the last booking), and each booking adds only
the difference; a fill absorbed later by the strategy, a restart or a fill delivered twice
(fills are unique per trade id) adds nothing more.

In USDT: each booking is valued at the quote's USDT rate of the moment (``usdt_rate``: 1 for
USDT, else the newer of a live QUOTE/USDT bot's last price and the newest stored QUOTE/USDT
1m candle, else the last rate this user booked that quote at; each of the last day only); with
none, the amount is kept unvalued and a loss there refuses entries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from autogrid.bots import repository as bot_rows
from autogrid.bots.ledger import Ledger, split_symbol
from autogrid.bots.state import BotState, load_state, store_state
from autogrid.events.payloads import Payload
from autogrid.events.types import EventType
from autogrid.exchanges.types import Side
from autogrid.models import AccountLimit, Bot
from autogrid.orders import store as order_rows
from autogrid.risk import repository
from autogrid.risk.repository import Booking
from autogrid.trading.account_limits import (
    USDT,
    AccountLimits,
    AccountStanding,
    Breach,
    unbooked,
    value_booking,
)
from autogrid.trading.strategies.base import Action, PlaceOrder, Snapshot

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
ONE_DAY = timedelta(days=1)

# The stored candles a USDT rate is read from: one timeframe's (the live paper price source
# stores 1m candles), so a daily candle still forming or an hourly one never competes with it.
USDT_RATE_TIMEFRAME = "1m"
# A rate older than this is no rate, whichever source has it: candles imported once (for a
# backtest, say) stop at their import, a live bot stopped months ago keeps the last price it
# saw, the user's last booking may be as old, and a quote can move tens of percent in days. A
# booking valued at a months-old price would hide a loss (or invent one); with no rate it is
# kept unvalued, and a loss there refuses entries, saying why (exits never).
USDT_RATE_MAX_AGE = timedelta(days=1)


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
    realized: Decimal  # USDT, each booking at its own time's rate
    open_bots: frozenset[uuid.UUID]
    unvalued: tuple[tuple[str, Decimal], ...] = ()  # (quote, P&L) booked with no USDT rate

    @property
    def unvalued_losses(self) -> tuple[tuple[str, Decimal], ...]:
        return tuple((quote, amount) for quote, amount in self.unvalued if amount < 0)


async def today(session: AsyncSession, user_id: uuid.UUID, now: datetime) -> Today:
    """Today's figures, read without any lock (the portfolio shows them; a deciding bot reads
    them through ``read_standing``, under the account row's lock)."""
    entries = await repository.entries_since(session, user_id, start_of_day(now))
    realized = ZERO
    unvalued: dict[str, Decimal] = {}
    for row in await repository.booked_on(session, user_id, day_of(now)):
        realized += row.realized_usdt
        if row.unvalued_pnl != 0:
            unvalued[row.quote] = unvalued.get(row.quote, ZERO) + row.unvalued_pnl
    open_bots = await repository.bots_with_live_buys(session, user_id)
    open_bots |= await repository.bots_with_unseen_buys(session, user_id)
    states = await repository.bot_states(session, user_id)
    open_bots |= {bot for bot, state in states if _holds_base(state)}
    kept = tuple(sorted((quote, amount) for quote, amount in unvalued.items() if amount != 0))
    return Today(day_of(now), entries, realized, frozenset(open_bots), kept)


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
        figures.unvalued_losses,
    )


async def usdt_rate(
    session: AsyncSession, user_id: uuid.UUID, exchange: str, quote: str, now: datetime
) -> Decimal | None:
    """USDT per unit of ``quote`` now: 1 for USDT; else the newer of the last price a live bot
    trading QUOTE/USDT on the bot's exchange saw and the newest stored QUOTE/USDT 1m candle;
    else the last rate the user booked ``quote`` at; else None. Each of the last day only
    (``USDT_RATE_MAX_AGE``)."""
    if quote == USDT:
        return Decimal(1)
    since = now - USDT_RATE_MAX_AGE
    known = [
        seen
        for seen in (
            _price_seen(await repository.live_bots_last_price(session, exchange, quote, since)),
            await repository.stored_usdt_close(
                session, exchange, quote, USDT_RATE_TIMEFRAME, since, now
            ),
        )
        if seen is not None
    ]
    if known:
        return max(known, key=lambda seen: seen[0])[1]
    # A booking row keeps only its day: its rate is younger than the limit for sure only when
    # its whole day began after ``since`` (in practice, bookings of today).
    return await repository.last_usdt_rate(session, user_id, quote, day_of(since) + ONE_DAY)


def _price_seen(seen: tuple[datetime, object] | None) -> tuple[datetime, Decimal] | None:
    """A bot state's ``last_price`` (text), if it is a usable price."""
    if seen is None or not isinstance(seen[1], str):
        return None
    try:
        price = Decimal(seen[1])
    except ArithmeticError:
        return None
    return (seen[0], price) if price.is_finite() and price > 0 else None


async def book_realized(
    session: AsyncSession,
    bot: Bot,
    state: BotState,
    whole: Ledger,
    now: datetime,
    inbox: int | None = None,
) -> bool:
    """Book what of ``whole`` (the bot's ledger with every fill of its inbox folded in) is not
    booked yet, on today's (UTC) row of the bot, valued in USDT now; ``state`` (the locked bot's,
    stored by the caller) remembers it, with ``inbox``: how many inbox fills ``whole`` holds
    (None: a decision's booking, which empties the inbox). True if anything was booked."""
    booked = Decimal(state.booked_realized) if state.booked_realized is not None else None
    change = unbooked(whole.realized, booked, Ledger.from_dict(state.ledger).realized)
    state.booked_realized = str(whole.realized)
    state.booked_inbox = inbox
    if change == 0:
        return False
    quote = split_symbol(bot.symbol)[1]
    rate = await usdt_rate(session, bot.user_id, bot.exchange, quote, now)
    booking = Booking(day_of(now), quote, change, value_booking(change, quote, rate), rate)
    if booking.value.unvalued:
        logger.warning("bot %s: %s %s booked with no USDT rate", bot.id, change, quote)
    await repository.book_realized(session, bot.id, bot.user_id, booking)
    return True


async def book_unseen_fills(session: AsyncSession, bot_id: uuid.UUID, now: datetime) -> None:
    """Book the realised P&L of the fills the bot's strategy has not absorbed yet (a stopping,
    paused, halted or stopped bot makes no decision), in the caller's transaction."""
    bot = await bot_rows.lock_bot_row(session, bot_id)
    if bot is None:
        return
    state = load_state(bot)
    fills = await order_rows.inbox_fills(session, bot_id)
    whole = Ledger.from_dict(state.ledger).with_fills(fills, bot.symbol)
    before = (state.booked_realized, state.booked_inbox)
    await book_realized(session, bot, state, whole, now, inbox=len(fills))
    if (state.booked_realized, state.booked_inbox) != before:
        store_state(bot, state)


def unbooked_fills_waiting(bot: Bot, waiting: int) -> bool:
    """Whether the bot's ``waiting`` inbox fills may hold P&L not booked yet: not when the
    last booking outside a decision folded in as many (nothing but a decision shrinks the
    inbox, and a decision's booking forgets the size)."""
    return waiting > 0 and waiting != load_state(bot).booked_inbox


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
