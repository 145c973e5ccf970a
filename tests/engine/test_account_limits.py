"""Account limits as the runtime applies them: every bot of a user counts against one budget,
a refused entry leaves no order and tells its owner once a day, exits always go out, and a
decision that rolls back leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from autogrid.bots.ledger import Ledger
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine.context import RuntimeContext
from autogrid.models import AccountLimit, AccountLimitNotice, BotDay, Event, Order
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import OrderStatus
from tests.exchange_sim import BinanceSimulator
from tests.support.factories import (
    SYMBOL,
    LiveAccount,
    bot_events,
    count_rows,
    load_bot,
    make_bot,
    make_user,
    orders_of,
)

PAPER = {"price_source": "live", "timeframe": "1m", "balances": {"USDT": "10000"}}
LIMIT_EVENT = "account_limit_reached"


async def set_limits(db: Database, user_id: uuid.UUID, **limits: Any) -> None:
    async with db.session_scope() as session:
        session.add(AccountLimit(user_id=user_id, updated_at=utcnow(), **limits))


async def paper_bot(db: Database, user_id: uuid.UUID) -> uuid.UUID:
    # A grid whose start places five limit buys, 95000 up to 99000 (the simulator is at 100000).
    return await make_bot(db, user_id, status="starting", mode="paper", paper=PAPER)


async def user_events(db: Database, user_id: uuid.UUID, kind: str) -> list[Event]:
    async with db.session_scope() as session:
        rows = await session.scalars(
            select(Event).where(Event.user_id == user_id, Event.type == kind).order_by(Event.id)
        )
        return list(rows.all())


async def test_two_paper_bots_of_one_user_share_the_trades_per_day_limit(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID, sim: BinanceSimulator
) -> None:
    await set_limits(db, user_id, max_trades_per_day=7)
    first, second, third = [await paper_bot(db, user_id) for _ in range(3)]
    stranger = await make_user_with_limits(db, max_trades_per_day=7)
    strangers_bot = await paper_bot(db, stranger)

    await tick_bot(ctx, first)
    await tick_bot(ctx, second)
    await tick_bot(ctx, third)
    await tick_bot(ctx, strangers_bot)

    assert len(await orders_of(db, first)) == 5
    # Two of the second bot's five buys fit in the day's seven; the rest leave no order row.
    placed = await orders_of(db, second)
    assert [o.price for o in placed] == [Decimal(95000), Decimal(96000)]
    assert {o.status for o in placed} == {OrderStatus.OPEN}
    assert await orders_of(db, third) == []
    # Told once: the first refusal journals the limit with its figures, later ones do not.
    (reached,) = await user_events(db, user_id, "account_limit_reached")
    assert reached.bot_id == second
    assert reached.data is not None
    assert reached.data["limit"] == "max_trades_per_day"
    assert (reached.data["value"], reached.data["figure"]) == ("7", "7")
    assert "trades per day" in reached.message
    assert await bot_events(db, third, LIMIT_EVENT) == []
    assert await bot_events(db, third, "order_denied") == []
    # Another user's limits and counts are their own.
    assert len(await orders_of(db, strangers_bot)) == 5
    assert await user_events(db, stranger, LIMIT_EVENT) == []
    assert sim.create_request_counts() == {}  # paper: nothing reached the exchange


async def make_user_with_limits(db: Database, **limits: Any) -> uuid.UUID:
    user = await make_user(db)
    await set_limits(db, user, **limits)
    return user


async def test_exits_go_out_when_entries_are_refused(live: LiveAccount) -> None:
    await set_limits(live.db, live.user_id, max_trades_per_day=5, max_open_positions=1)
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    assert len(await orders_of(live.db, bot_id)) == 5  # five entries: the day's budget

    live.sim.set_price(SYMBOL, "94000")  # every buy fills; the grid answers each with a sell
    await tick_bot(live.ctx, bot_id)

    orders = await orders_of(live.db, bot_id)
    sells = [o for o in orders if o.side == "sell"]
    assert len(sells) == 5 and all(o.status != OrderStatus.DENIED for o in sells)
    assert len([o for o in live.sim.orders() if o.side == "SELL"]) == 5
    assert await bot_events(live.db, bot_id, LIMIT_EVENT) == []


async def test_a_decision_waits_for_a_concurrent_one_and_counts_its_orders(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID, sim: BinanceSimulator
) -> None:
    """Two bots of one user deciding at once: the second waits on the user's account row until
    the first commits, then counts the first's orders. Here the first decision is played by a
    transaction that holds the row and writes five orders of another bot."""
    await set_limits(db, user_id, max_trades_per_day=5)
    other = await make_bot(db, user_id, status="running", mode="paper", paper=PAPER)
    bot_id = await paper_bot(db, user_id)
    async with db.session_scope() as holder:
        await holder.execute(
            select(AccountLimit).where(AccountLimit.user_id == user_id).with_for_update()
        )
        tick = asyncio.create_task(tick_bot(ctx, bot_id))
        await wait_for_lock_waiter(db, tick)
        for level in range(5):
            holder.add(buy_order(other, user_id, Decimal(90000 + level)))
    await tick

    assert await orders_of(db, bot_id) == []
    (reached,) = await bot_events(db, bot_id, LIMIT_EVENT)
    assert reached.data is not None and reached.data["figure"] == "5"


async def wait_for_lock_waiter(db: Database, tick: asyncio.Task[Any]) -> None:
    """Until a backend waits on a row lock of ``account_limits`` (the tick's decision)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query ILIKE '%account_limits%'"
    )
    for _ in range(2000):
        assert not tick.done(), "the decision did not wait for the account row"
        async with db.session_scope() as session:
            if await session.scalar(query):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("no decision ever waited for the account row")


def buy_order(bot_id: uuid.UUID, user_id: uuid.UUID, price: Decimal) -> Order:
    now = utcnow()
    return Order(
        bot_id=bot_id,
        user_id=user_id,
        client_order_id=uuid.uuid4().hex,
        exchange="binance",
        symbol=SYMBOL,
        side="buy",
        type="limit",
        price=price,
        amount=Decimal("0.01"),
        status=OrderStatus.NEW.value,
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
def fail_on_limit_event() -> Iterator[list[int]]:
    """Flushing an account_limit_reached event raises (once): the decision rolls back."""
    raised: list[int] = []

    def before_flush(session: Session, *_: Any) -> None:
        limit_events = [
            row for row in session.new if isinstance(row, Event) and row.type == LIMIT_EVENT
        ]
        if limit_events and not raised:
            raised.append(1)
            raise RuntimeError("the decision's transaction fails")

    event.listen(Session, "before_flush", before_flush)
    yield raised
    event.remove(Session, "before_flush", before_flush)


async def test_a_rolled_back_decision_leaves_no_event_and_no_notice(
    ctx: RuntimeContext,
    db: Database,
    user_id: uuid.UUID,
    sim: BinanceSimulator,
    fail_on_limit_event: list[int],
) -> None:
    await set_limits(db, user_id, max_open_positions=1)
    await tick_bot(ctx, await paper_bot(db, user_id))  # one bot holds the one position
    bot_id = await paper_bot(db, user_id)

    with contextlib.suppress(RuntimeError):  # however the step reports the failure
        await tick_bot(ctx, bot_id)
    assert fail_on_limit_event == [1]
    assert await user_events(db, user_id, LIMIT_EVENT) == []
    assert await count_rows(db, AccountLimitNotice) == 0

    await tick_bot(ctx, bot_id)  # decided again, committed this time: told once
    (reached,) = await user_events(db, user_id, LIMIT_EVENT)
    assert reached.data is not None and reached.data["limit"] == "max_open_positions"
    assert await orders_of(db, bot_id) == []
    assert await count_rows(db, BotDay) == 0  # no fill, nothing booked


async def test_the_days_realised_loss_of_every_bot_refuses_new_entries(
    ctx: RuntimeContext, db: Database, user_id: uuid.UUID, sim: BinanceSimulator
) -> None:
    await set_limits(db, user_id, max_daily_loss=Decimal(200))
    losing = await make_bot(db, user_id, status="stopped", mode="paper", paper=PAPER)
    async with db.session_scope() as session:
        session.add(
            BotDay(
                bot_id=losing,
                day=utcnow().date(),
                user_id=user_id,
                quote="USDT",
                realized_pnl=Decimal("-200.01"),
                realized_usdt=Decimal("-200.01"),
            )
        )
    bot_id = await paper_bot(db, user_id)

    await tick_bot(ctx, bot_id)

    assert await orders_of(db, bot_id) == []
    (reached,) = await bot_events(db, bot_id, LIMIT_EVENT)
    assert reached.data is not None
    assert (reached.data["limit"], reached.data["figure"]) == ("max_daily_loss", "200.01")


async def test_a_bot_books_the_realised_pnl_of_its_fills_on_the_day(live: LiveAccount) -> None:
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)
    live.sim.set_price(SYMBOL, "94000")  # the five buys fill: sells answer them
    await tick_bot(live.ctx, bot_id)
    live.sim.set_price(SYMBOL, "101000")  # the sells fill: profit realised
    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    realized = Ledger.from_dict(bot.state["ledger"]).realized
    assert realized > 0
    async with live.db.session_scope() as session:
        (day,) = (await session.scalars(select(BotDay).where(BotDay.bot_id == bot_id))).all()
    assert (day.day, day.user_id, day.realized_pnl) == (utcnow().date(), live.user_id, realized)


async def test_a_decision_with_an_entry_and_an_exit_at_the_limit_keeps_the_exit(
    live: LiveAccount,
) -> None:
    await set_limits(live.db, live.user_id, max_trades_per_day=5)
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)  # five buys, 95000 to 99000: the day's five entries
    live.sim.set_price(SYMBOL, "98500")  # the buy at 99000 fills: its sell at 100000 goes out
    await tick_bot(live.ctx, bot_id)
    # The sell at 100000 fills, then the buy at 98000: one decision sees both fills and asks
    # for an entry (the buy at 99000 again) and an exit (a sell at 99000).
    live.sim.set_price(SYMBOL, "100500")
    live.sim.set_price(SYMBOL, "97500")
    await tick_bot(live.ctx, bot_id)

    orders = await orders_of(live.db, bot_id)
    sells = sorted(o.price for o in orders if o.side == "sell" and o.price is not None)
    assert sells == [Decimal(99000), Decimal(100000)]
    assert len([o for o in orders if o.side == "buy"]) == 5  # the entry was refused
    (reached,) = await bot_events(live.db, bot_id, LIMIT_EVENT)
    assert reached.data is not None and reached.data["figure"] == "5"
