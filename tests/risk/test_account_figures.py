"""The SQL behind the account limits, on PostgreSQL and SQLite alike: what counts as a trade
today, the realised P&L booked per bot and day (exact decimals, never a float sum), and the
once-a-day notice."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from autogrid.core.db import Database
from autogrid.models import Order
from autogrid.risk import repository
from autogrid.risk.repository import Booking
from autogrid.risk.standing import today
from autogrid.trading.account_limits import value_booking
from autogrid.trading.orders import OrderStatus
from tests.support.factories import make_bot, make_user

D = Decimal
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, tzinfo=UTC)


def order(
    bot_id: uuid.UUID, user_id: uuid.UUID, side: str, status: str, at: datetime, filled: str = "0"
) -> Order:
    return Order(
        bot_id=bot_id,
        user_id=user_id,
        client_order_id=uuid.uuid4().hex,
        exchange="binance",
        symbol="BTC/USDT",
        side=side,
        type="limit",
        price=D(100),
        amount=D(1),
        filled=D(filled),
        status=status,
        created_at=at,
        updated_at=at,
    )


def usdt(day: date, amount: str) -> Booking:
    return Booking(day, "USDT", D(amount), value_booking(D(amount), "USDT", D(1)), D(1))


async def test_todays_figures_across_the_users_bots(database: Database) -> None:
    user = await make_user(database)
    first = await make_bot(database, user)
    second = await make_bot(database, user)
    stranger = await make_user(database)
    strangers_bot = await make_bot(database, stranger)
    S = OrderStatus
    async with database.session_scope() as session:
        session.add_all(
            [
                order(first, user, "buy", S.OPEN, NOW),  # counts, and opens a position
                order(first, user, "buy", S.FILLED, MIDNIGHT, "1"),  # counts
                order(second, user, "buy", S.CANCELED, NOW, "0.5"),  # traded in part: counts
                order(second, user, "buy", S.CANCELED, NOW),  # never traded
                order(second, user, "buy", S.REJECTED, NOW),  # never traded
                order(second, user, "buy", S.DENIED, NOW),  # refused by our checks
                order(second, user, "sell", S.FILLED, NOW, "1"),  # an exit
                order(second, user, "buy", S.FILLED, MIDNIGHT - timedelta(seconds=1), "1"),
                order(strangers_bot, stranger, "buy", S.OPEN, NOW),
            ]
        )
        await session.flush()
        day = NOW.date()
        await repository.book_realized(session, first, user, usdt(day, "-0.1"))
        await repository.book_realized(session, second, user, usdt(day, "-0.2"))
        await repository.book_realized(session, first, user, usdt(day, "-0.000000000000000001"))
        await repository.book_realized(session, first, user, usdt(day - timedelta(days=1), "-50"))
        await repository.book_realized(session, strangers_bot, stranger, usdt(day, "-99"))

    async with database.session_scope() as session:
        figures = await today(session, user, NOW)

    assert figures.entries == 3
    assert figures.realized == D("-0.300000000000000001")
    assert figures.open_bots == {first}


async def test_a_limit_is_noted_once_per_day(database: Database) -> None:
    user = await make_user(database)
    day = NOW.date()
    async with database.session_scope() as session:
        first = await repository.note_limit_reached(session, user, day, "max_open_positions", NOW)
        again = await repository.note_limit_reached(session, user, day, "max_open_positions", NOW)
        other = await repository.note_limit_reached(session, user, day, "max_daily_loss", NOW)
        tomorrow = day + timedelta(days=1)
        next_day = await repository.note_limit_reached(
            session, user, tomorrow, "max_open_positions", NOW
        )
    assert (first, again, other, next_day) == (True, False, True, True)
