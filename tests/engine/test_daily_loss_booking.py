"""The realised P&L of fills no decision absorbs is booked when the step sees them: a stop's
market sale (so another bot of the user is refused entries the same day), a fill of an order a
stopped bot left resting (found by the periodic reconciliation), and never twice: a restart
whose first decision absorbs those fills books nothing more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select

from autogrid.bots.ledger import Ledger
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.models import AccountLimit, BotDay, BotStatus
from autogrid.scheduling.claims import reconcile_all
from autogrid.scheduling.ticking import tick_bot
from tests.support.factories import (
    SYMBOL,
    LiveAccount,
    bot_events,
    fills_of,
    load_bot,
    orders_of,
    set_bot,
)

LIMIT_EVENT = "account_limit_reached"


@contextmanager
def bookings(db: Database) -> Iterator[list[str]]:
    """The statements that read a bot's inbox fills to book them, while the block runs."""
    seen: list[str] = []

    def note(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        if words.startswith("SELECT fills.") and "JOIN strategy_inbox" in words:
            seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def started(live: LiveAccount) -> uuid.UUID:
    bot_id = await live.bot(status="starting")
    await tick_bot(live.ctx, bot_id)  # a grid: five limit buys, 95000 up to 99000
    return bot_id


async def request_stop(db: Database, bot_id: uuid.UUID, **options: bool) -> None:
    bot = await load_bot(db, bot_id)
    request = {"cancel_orders": True, "sell_base": False, "requested_at": "2026-01-01T00:00Z"}
    request.update(options)
    await set_bot(db, bot_id, status="stopping", state={**bot.state, "stop_request": request})


async def booked(db: Database, bot_id: uuid.UUID) -> list[BotDay]:
    async with db.session_scope() as session:
        rows = await session.scalars(select(BotDay).where(BotDay.bot_id == bot_id))
        return list(rows.all())


async def realised_of_every_fill(db: Database, bot_id: uuid.UUID) -> Decimal:
    return Ledger().with_fills(await fills_of(db, bot_id), SYMBOL).realized


async def test_a_stop_sales_loss_is_booked_when_it_fills_and_refuses_other_bots_entries(
    live: LiveAccount,
) -> None:
    async with live.db.session_scope() as session:
        session.add(
            AccountLimit(user_id=live.user_id, max_daily_loss=Decimal(1), updated_at=utcnow())
        )
    losing = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills
    await tick_bot(live.ctx, losing)
    await request_stop(live.db, losing, sell_base=True)  # sold at 98500: a loss
    for _ in range(3):
        await tick_bot(live.ctx, losing)
    assert (await load_bot(live.db, losing)).status == BotStatus.STOPPED

    loss = await realised_of_every_fill(live.db, losing)
    assert loss < -1
    [day] = await booked(live.db, losing)
    assert (day.day, day.quote, day.realized_pnl, day.realized_usdt) == (
        utcnow().date(),
        "USDT",
        loss,
        loss,
    )

    other = await started(live)  # the same day: its entries are refused
    assert await orders_of(live.db, other) == []
    [reached] = await bot_events(live.db, other, LIMIT_EVENT)
    assert reached.data is not None
    assert (reached.data["limit"], reached.data["figure"]) == ("max_daily_loss", str(-loss))

    # A restart absorbs the sale into the ledger: booked already, nothing added.
    await set_bot(live.db, losing, status="starting")
    for _ in range(2):
        await tick_bot(live.ctx, losing)
    assert Ledger.from_dict((await load_bot(live.db, losing)).state["ledger"]).realized == loss
    assert [row.realized_pnl for row in await booked(live.db, losing)] == [loss]


async def test_a_fill_of_a_stopped_bots_resting_order_is_booked_by_the_reconciliation(
    live: LiveAccount,
) -> None:
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills; a sell at 100000 answers it
    await tick_bot(live.ctx, bot_id)
    await request_stop(live.db, bot_id, cancel_orders=False)
    await tick_bot(live.ctx, bot_id)
    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    assert await booked(live.db, bot_id) == []

    live.sim.set_price(SYMBOL, "100500")  # the stopped bot's sell fills: a profit
    assert await reconcile_all(live.ctx) == 1

    profit = await realised_of_every_fill(live.db, bot_id)
    assert profit > 0
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]
    assert await reconcile_all(live.ctx) == 1  # seen again: nothing more
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]


async def test_a_paused_bots_fill_is_booked_by_its_step(live: LiveAccount) -> None:
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills; a sell at 100000 answers it
    await tick_bot(live.ctx, bot_id)
    await set_bot(live.db, bot_id, status="paused")

    live.sim.set_price(SYMBOL, "100500")  # the paused bot's sell fills: a profit
    await tick_bot(live.ctx, bot_id)

    profit = await realised_of_every_fill(live.db, bot_id)
    assert profit > 0
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]
    await set_bot(live.db, bot_id, status="running")  # resumed: its decision absorbs the fill
    await tick_bot(live.ctx, bot_id)
    assert Ledger.from_dict((await load_bot(live.db, bot_id)).state["ledger"]).realized == profit
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]


async def test_a_paused_bots_waiting_fill_is_booked_once_not_at_every_tick(
    live: LiveAccount,
) -> None:
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills; a sell at 100000 answers it
    await tick_bot(live.ctx, bot_id)
    await set_bot(live.db, bot_id, status="paused")
    live.sim.set_price(SYMBOL, "100500")  # the paused bot's sell fills: it waits in the inbox

    with bookings(live.db) as first:
        await tick_bot(live.ctx, bot_id)
    with bookings(live.db) as second:
        await tick_bot(live.ctx, bot_id)  # the same fills waiting: nothing new to book

    assert (len(first), len(second)) == (1, 0)
    profit = await realised_of_every_fill(live.db, bot_id)
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]

    live.sim.set_price(SYMBOL, "97500")  # the resting 98000 buy fills: one more waiting
    with bookings(live.db) as third:
        await tick_bot(live.ctx, bot_id)
    assert len(third) == 1


async def test_a_fill_seen_by_the_tick_that_marks_the_bot_stopped_is_booked_once(
    live: LiveAccount,
) -> None:
    bot_id = await started(live)
    live.sim.set_price(SYMBOL, "98500")  # the 99000 buy fills; a sell at 100000 answers it
    await tick_bot(live.ctx, bot_id)
    await request_stop(live.db, bot_id)  # cancel the rest, keep the base
    live.sim.set_price(SYMBOL, "100500")  # the sell fills before the stop's tick sees it

    with bookings(live.db) as seen:
        await tick_bot(live.ctx, bot_id)  # sees the fill, cancels the rest, stopped

    assert (await load_bot(live.db, bot_id)).status == BotStatus.STOPPED
    profit = await realised_of_every_fill(live.db, bot_id)
    assert profit > 0
    assert [row.realized_pnl for row in await booked(live.db, bot_id)] == [profit]
    assert len(seen) == 1  # booked with the stop, in its commit, and not again after it
