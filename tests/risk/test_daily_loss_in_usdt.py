"""The daily loss across quote currencies, on PostgreSQL and SQLite: each booking valued in USDT
at its own time (a live QUOTE/USDT bot's last price or the stored QUOTE/USDT candle, the newer;
else the last rate the user booked that quote at; each of the last day only), and a loss with no
rate at all refusing entries rather than being left out."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete

from autogrid.bots.ledger import Ledger
from autogrid.bots.state import BotState
from autogrid.core.db import Database
from autogrid.models import AccountLimit, Bot, Candle
from autogrid.risk import standing
from autogrid.trading.account_limits import Entry, LimitName, check_entry
from tests.support.factories import make_bot, make_user, set_bot

D = Decimal
NOW = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
BUY = Entry(is_entry=True, amount=D(1), price=D(100))


async def book(database: Database, bot_id: uuid.UUID, realised: str, at: datetime) -> None:
    """The bot's realised P&L moves by ``realised`` (in its quote) and is booked at ``at``."""
    async with database.session_scope() as session:
        bot = await session.get(Bot, bot_id)
        assert bot is not None
        state = BotState(booked_realized="0")
        await standing.book_realized(session, bot, state, Ledger(realized=D(realised)), at)


async def btc_price(database: Database, close: str, at: datetime, timeframe: str = "1m") -> None:
    async with database.session_scope() as session:
        price = D(close)
        session.add(
            Candle(
                exchange="binance",
                symbol="BTC/USDT",
                timeframe=timeframe,
                ts=at,
                open=price,
                high=price,
                low=price,
                close=price,
                volume=D(1),
            )
        )


async def user_with_two_quotes(database: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    user = await make_user(database)
    async with database.session_scope() as session:
        session.add(AccountLimit(user_id=user, max_daily_loss=D(100), updated_at=NOW))
    usdt_bot = await make_bot(database, user)  # BTC/USDT
    btc_bot = await make_bot(database, user)
    await set_bot(database, btc_bot, symbol="ETH/BTC")
    return user, usdt_bot, btc_bot


async def test_a_btc_loss_counts_at_its_usdt_value_when_booked(database: Database) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "60000", NOW - timedelta(hours=1))
    await book(database, usdt_bot, "-50", NOW)
    await book(database, btc_bot, "-0.001", NOW)  # 60 USDT at 60000
    await btc_price(database, "10000", NOW + timedelta(minutes=1))  # later: not what was booked

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW + timedelta(minutes=2))
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)

    assert figures.realized == D(-110)
    assert figures.unvalued == ()
    assert account is not None
    breach = check_entry(BUY, account)
    assert breach is not None and breach.limit == LimitName.LOSS_PER_DAY
    assert breach.figure == D(110)


async def test_a_live_btc_usdt_bots_newer_price_beats_an_older_candle(database: Database) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "60000", NOW - timedelta(hours=1))
    at = NOW - timedelta(minutes=1)
    await set_bot(database, usdt_bot, state={"last_price": "70000"}, last_tick_at=at)

    await book(database, btc_bot, "-0.001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
    assert figures.realized == D(-70)


async def test_without_a_price_the_rate_booked_earlier_today_counts(database: Database) -> None:
    user, _, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "50000", NOW - timedelta(hours=3))
    await book(database, btc_bot, "0.001", NOW - timedelta(hours=2))  # this morning, at 50000
    async with database.session_scope() as session:
        await session.execute(delete(Candle))

    await book(database, btc_bot, "-0.002", NOW)  # no candle now: this morning's rate

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
    assert (figures.realized, figures.unvalued) == (D(-50), ())


async def test_a_rate_booked_a_day_ago_is_no_rate_and_the_loss_refuses_entries(
    database: Database,
) -> None:
    """The user's last booked rate is the last resort, and was used with no age limit: a quote
    booked once months ago valued today's loss at that old price."""
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "50000", NOW - timedelta(days=1, hours=1))
    await book(database, btc_bot, "0.001", NOW - timedelta(days=1))  # yesterday, at 50000
    async with database.session_scope() as session:
        await session.execute(delete(Candle))

    await book(database, btc_bot, "-0.001", NOW)  # no candle now, yesterday's rate too old

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)
    assert (figures.realized, figures.unvalued) == (D(0), (("BTC", D("-0.001")),))
    assert account is not None
    breach = check_entry(BUY, account)
    assert breach is not None and breach.limit == LimitName.LOSS_PER_DAY
    assert "no USDT price" in breach.reason
    assert check_entry(Entry(is_entry=False, amount=D(1), price=D(100)), account) is None


async def test_a_stopped_live_bots_months_old_price_is_no_rate(database: Database) -> None:
    """A live BTC/USDT bot stopped months ago keeps the last price it saw in its state: that
    price valued today's loss, however far BTC had moved since."""
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    long_ago = NOW - timedelta(days=90)
    await set_bot(database, usdt_bot, state={"last_price": "70000"}, last_tick_at=long_ago)

    await book(database, btc_bot, "-0.001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)
    assert (figures.realized, figures.unvalued) == (D(0), (("BTC", D("-0.001")),))
    assert account is not None
    breach = check_entry(BUY, account)
    assert breach is not None and "no USDT price" in breach.reason


async def test_a_live_bots_price_of_the_last_day_still_counts(database: Database) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    at = NOW - timedelta(hours=23)
    await set_bot(database, usdt_bot, state={"last_price": "70000"}, last_tick_at=at)

    await book(database, btc_bot, "-0.001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
    assert (figures.realized, figures.unvalued) == (D(-70), ())


async def test_a_loss_with_no_usdt_rate_at_all_refuses_entries(database: Database) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await book(database, usdt_bot, "30", NOW)
    await book(database, btc_bot, "-0.0001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)

    assert figures.realized == D(30)
    assert figures.unvalued == (("BTC", D("-0.0001")),)
    assert account is not None
    breach = check_entry(BUY, account)
    assert breach is not None and breach.limit == LimitName.LOSS_PER_DAY
    assert "0.0001 BTC" in breach.reason and "no USDT price" in breach.reason
    exit_ = Entry(is_entry=False, amount=D(1), price=D(100))
    assert check_entry(exit_, account) is None  # exits are never refused


async def test_an_unvalued_profit_refuses_nothing(database: Database) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await book(database, btc_bot, "0.0001", NOW)

    async with database.session_scope() as session:
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)

    assert account is not None and check_entry(BUY, account) is None


async def test_a_months_old_close_is_no_rate_and_the_loss_refuses_entries(
    database: Database,
) -> None:
    user, usdt_bot, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "60000", NOW - timedelta(days=90))  # imported once, long ago
    await btc_price(database, "61000", NOW - timedelta(days=1))  # a day old: too old as well

    await book(database, btc_bot, "-0.0001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
        account = await standing.read_standing(session, user, usdt_bot, NOW, None)
    assert (figures.realized, figures.unvalued) == (D(0), (("BTC", D("-0.0001")),))
    assert account is not None
    breach = check_entry(BUY, account)
    assert breach is not None and breach.limit == LimitName.LOSS_PER_DAY
    assert "no USDT price" in breach.reason


async def test_the_rate_is_read_from_the_1m_candles_only(database: Database) -> None:
    user, _, btc_bot = await user_with_two_quotes(database)
    await btc_price(database, "60000", NOW - timedelta(minutes=1))
    await btc_price(database, "10000", NOW, timeframe="1h")  # newer, but another series

    await book(database, btc_bot, "-0.001", NOW)

    async with database.session_scope() as session:
        figures = await standing.today(session, user, NOW)
    assert figures.realized == D(-60)
