"""Recurring buys of a live DCA bot, in process against the simulator, with a clock the test moves:
each slot buys once, on time; missed slots follow the catch-up policy; a slot is never bought
twice, even when the bot's memory of it is lost; a bot with deals keeps its deals apart."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import ScheduledBuy
from autogrid.runtime.context import RuntimeContext
from autogrid.runtime.order_values import tag_of
from autogrid.runtime.scheduled_buys import SCHEDULE_KEY
from autogrid.runtime.tick import tick_bot
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator
from tests.runtime.contexts import runtime_context
from tests.runtime.factories import (
    SYMBOL,
    Clock,
    load_bot,
    make_bot,
    make_credential,
    make_user,
    orders_of,
    set_bot,
)

D = Decimal
# Europe/Paris is UTC+1 until 29 March 2026: its local midnight is 23:00 UTC.
MONDAY_MORNING = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
MONDAY_SLOT = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)


def buys_only(catch_up: str = "skip", **schedule: Any) -> dict[str, Any]:
    rhythm = schedule or {"every": "daily", "timezone": "Europe/Paris"}
    return {"deals": False, "schedule": {"amount": "100", "catch_up": catch_up, **rhythm}}


async def scheduled_bot(
    db: Database,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
    clock: Clock,
    strategy: dict[str, Any],
) -> uuid.UUID:
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        bot_type="dca",
        strategy=strategy,
        credential_id=credential_id,
        investment=None,
    )
    await set_bot(db, bot_id, started_at=clock.now)
    return bot_id


async def slot_rows(db: Database, bot_id: uuid.UUID) -> list[ScheduledBuy]:
    async with db.session_scope() as session:
        query = select(ScheduledBuy).where(ScheduledBuy.bot_id == bot_id)
        return list((await session.scalars(query.order_by(ScheduledBuy.slot_at))).all())


async def memory(db: Database, bot_id: uuid.UUID) -> dict[str, Any]:
    found: dict[str, Any] = (await load_bot(db, bot_id)).state.get(SCHEDULE_KEY, {})
    return found


async def test_each_slot_buys_once_on_time_for_the_amount(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    sim.set_price(SYMBOL, "80000")
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, buys_only())

    await tick_bot(ctx, bot_id)  # starts; the first slot is tonight, nothing to buy yet
    assert await orders_of(db, bot_id) == []

    clock.now = MONDAY_SLOT - timedelta(seconds=2)
    # As beat's claim does: the next tick one interval (5 s) ahead, then this tick runs.
    await set_bot(db, bot_id, next_tick_at=clock.now + timedelta(seconds=5))
    await tick_bot(ctx, bot_id)
    assert (await load_bot(db, bot_id)).next_tick_at == MONDAY_SLOT  # asks to run at the slot

    clock.now = MONDAY_SLOT + timedelta(minutes=3)  # late, but within the grace period
    await tick_bot(ctx, bot_id)
    await tick_bot(ctx, bot_id)  # a second tick in the same slot buys nothing more

    orders = await orders_of(db, bot_id)
    assert [(o.side, o.type, o.status, tag_of(o)) for o in orders] == [
        ("buy", "market", "filled", "SB20260309T2300Z")
    ]
    assert orders[0].amount == D("0.00125")  # 100 USDT at 80,000
    rows = await slot_rows(db, bot_id)
    assert [(r.slot_at, r.quote_amount, r.order_id, r.missed_before) for r in rows] == [
        (MONDAY_SLOT, D(100), orders[0].id, 0)
    ]
    assert await memory(db, bot_id) == {
        "settled_through": MONDAY_SLOT.isoformat(),
        "missed": 0,
        "buys": 1,
        "last_slot": MONDAY_SLOT.isoformat(),
    }

    clock.now = MONDAY_SLOT + timedelta(days=1, minutes=1)  # Tuesday's slot
    await tick_bot(ctx, bot_id)
    assert len(await orders_of(db, bot_id)) == 2
    assert (await memory(db, bot_id))["buys"] == 2


async def test_missed_slots_are_skipped_by_default(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, buys_only("skip"))
    await tick_bot(ctx, bot_id)

    clock.now = MONDAY_SLOT + timedelta(days=2, hours=5)  # the workers were down three slots
    await tick_bot(ctx, bot_id)

    assert await orders_of(db, bot_id) == []
    assert await slot_rows(db, bot_id) == []
    state = await memory(db, bot_id)
    assert state["missed"] == 3
    assert state["settled_through"] == (MONDAY_SLOT + timedelta(days=2)).isoformat()


async def test_missed_slots_buy_once_with_catch_up_once(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, buys_only("once"))
    await tick_bot(ctx, bot_id)

    clock.now = MONDAY_SLOT + timedelta(days=2, hours=5)
    await tick_bot(ctx, bot_id)
    await tick_bot(ctx, bot_id)

    orders = await orders_of(db, bot_id)
    assert len(orders) == 1  # one buy for three missed slots, never a burst
    rows = await slot_rows(db, bot_id)
    assert [(r.slot_at, r.missed_before) for r in rows] == [(MONDAY_SLOT + timedelta(days=2), 2)]
    assert (await memory(db, bot_id))["missed"] == 2


async def test_a_slot_is_never_bought_twice_even_if_the_bot_forgets_it(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    await never_twice(ctx, db, clock, user_id, credential_id)


async def test_the_same_on_sqlite_the_embedded_mode(
    settings: Settings, sqlite_db: Database, sim: BinanceSimulator, clock: Clock
) -> None:
    context = runtime_context(settings, sqlite_db, clock, sim_url=sim.url)
    user = await make_user(sqlite_db)
    credential = await make_credential(
        sqlite_db, settings, user, DEFAULT_API_KEY, DEFAULT_SECRET
    )
    try:
        await never_twice(context, sqlite_db, clock, user, credential)
    finally:
        await context.close()


async def never_twice(
    ctx: RuntimeContext,
    db: Database,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, buys_only())
    await tick_bot(ctx, bot_id)
    clock.now = MONDAY_SLOT + timedelta(minutes=1)
    await tick_bot(ctx, bot_id)
    assert len(await orders_of(db, bot_id)) == 1

    # The bot's memory of the slot is lost (a state written back from before the buy).
    bot = await load_bot(db, bot_id)
    forgotten = {**bot.state, SCHEDULE_KEY: {"settled_through": MONDAY_MORNING.isoformat()}}
    await set_bot(db, bot_id, state=forgotten)
    await tick_bot(ctx, bot_id)

    assert len(await orders_of(db, bot_id)) == 1  # the (bot, slot) key refused a second buy
    assert len(await slot_rows(db, bot_id)) == 1
    assert (await memory(db, bot_id))["settled_through"] == MONDAY_SLOT.isoformat()


async def test_a_restart_does_not_buy_the_slots_of_the_time_it_was_stopped(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, buys_only("once"))
    await tick_bot(ctx, bot_id)

    clock.now = MONDAY_SLOT + timedelta(days=3, hours=1)  # stopped since Monday, started now
    await set_bot(db, bot_id, status="starting", started_at=clock.now)
    await tick_bot(ctx, bot_id)
    await tick_bot(ctx, bot_id)

    assert await orders_of(db, bot_id) == []
    assert (await memory(db, bot_id)).get("missed", 0) == 0


async def test_deals_ignore_the_scheduled_buys_of_the_same_bot(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> None:
    clock.now = MONDAY_MORNING
    sim.set_price(SYMBOL, "80000")
    strategy = {
        "base_order_volume": "200",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "2",
        "max_safety_orders": 1,
        "take_profit": "1.5",
        "schedule": {"amount": "100", "every": "daily", "timezone": "Europe/Paris"},
    }
    bot_id = await scheduled_bot(db, user_id, credential_id, clock, strategy)
    await tick_bot(ctx, bot_id)  # starts
    await tick_bot(ctx, bot_id)  # the base order filled: safety order and take profit rest
    clock.now = MONDAY_SLOT + timedelta(minutes=1)
    await tick_bot(ctx, bot_id)  # the slot's buy
    await tick_bot(ctx, bot_id)  # its fill reaches the strategy, which leaves it alone

    tags = sorted(tag_of(o) or "" for o in await orders_of(db, bot_id))
    assert tags == ["D1.BO", "D1.SO1", "D1.TP1", "SB20260309T2300Z"]
    deal = (await load_bot(db, bot_id)).state["strategy"]
    assert D(deal["bought_amount"]) == D("0.0025")  # the base order only: 200 USDT at 80,000
    take_profit = next(o for o in await orders_of(db, bot_id) if tag_of(o) == "D1.TP1")
    # The deal's base net of the 0.1% fee, rounded down to the step: the scheduled buy's
    # 0.00125 stays out of the deal.
    assert take_profit.amount == D("0.00249") and take_profit.status == "open"
