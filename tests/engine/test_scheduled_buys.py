"""Recurring buys of a live DCA bot, in process against the simulator, with a clock the test moves:
each slot buys once, on time; missed slots follow the catch-up policy; a slot is never bought
twice, even when the bot's memory of it is lost; a bot with deals keeps its deals apart."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from autogrid.bots.state import load_state
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.core.sqltypes import utcnow
from autogrid.engine.context import RuntimeContext
from autogrid.models import GLOBAL_KILL_SWITCH, KillSwitch, ScheduledBuy
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, BinanceSimulator
from tests.support.contexts import runtime_context
from tests.support.factories import (
    SYMBOL,
    Clock,
    bot_events,
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
NOW = utcnow()


def buys_only(catch_up: str = "skip", **schedule: Any) -> dict[str, Any]:
    rhythm = schedule or {"every": "daily", "timezone": "Europe/Paris"}
    return {"deals": False, "schedule": {"amount": "100", "catch_up": catch_up, **rhythm}}


@dataclass
class Desk:
    """A runtime on the simulator with a clock the test moves, and a user with a credential."""

    ctx: RuntimeContext
    db: Database
    clock: Clock
    user_id: uuid.UUID
    credential_id: uuid.UUID

    async def started_bot(self, strategy: dict[str, Any]) -> uuid.UUID:
        """A live DCA bot started on Monday morning, after its first tick."""
        self.clock.now = MONDAY_MORNING
        bot_id = await make_bot(
            self.db,
            self.user_id,
            status="starting",
            bot_type="dca",
            strategy=strategy,
            credential_id=self.credential_id,
            investment=None,
        )
        await set_bot(self.db, bot_id, started_at=self.clock.now)
        await self.tick(bot_id)
        return bot_id

    async def tick(self, bot_id: uuid.UUID, at: datetime | None = None, times: int = 1) -> None:
        if at is not None:
            self.clock.now = at
        for _ in range(times):
            await tick_bot(self.ctx, bot_id)


@pytest.fixture
def desk(
    ctx: RuntimeContext,
    db: Database,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
    credential_id: uuid.UUID,
) -> Desk:
    sim.set_price(SYMBOL, "80000")
    return Desk(ctx, db, clock, user_id, credential_id)


async def slot_rows(db: Database, bot_id: uuid.UUID) -> list[ScheduledBuy]:
    async with db.session_scope() as session:
        query = select(ScheduledBuy).where(ScheduledBuy.bot_id == bot_id)
        return list((await session.scalars(query.order_by(ScheduledBuy.slot_at))).all())


async def memory(db: Database, bot_id: uuid.UUID) -> dict[str, Any]:
    return load_state(await load_bot(db, bot_id)).recurring_buys or {}


async def test_each_slot_buys_once_on_time_for_the_amount(desk: Desk) -> None:
    db = desk.db
    bot_id = await desk.started_bot(buys_only())  # the first slot is tonight
    assert await orders_of(db, bot_id) == []

    # As beat's claim does: the next tick one interval (5 s) ahead, then this tick runs.
    early = MONDAY_SLOT - timedelta(seconds=2)
    await set_bot(db, bot_id, next_tick_at=early + timedelta(seconds=5))
    await desk.tick(bot_id, at=early)
    assert (await load_bot(db, bot_id)).next_tick_at == MONDAY_SLOT  # asks to run at the slot

    # Late but within the grace period; a second tick in the same slot buys nothing more.
    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(minutes=3), times=2)

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

    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(days=1, minutes=1))  # Tuesday's slot
    assert len(await orders_of(db, bot_id)) == 2
    assert (await memory(db, bot_id))["buys"] == 2
    # The owner's journal: one buy per slot, in the decision that placed it.
    made = await bot_events(db, bot_id, "scheduled_buy_made")
    assert [(e.data or {}).get("slot") for e in made] == [
        MONDAY_SLOT.isoformat(),
        (MONDAY_SLOT + timedelta(days=1)).isoformat(),
    ]
    assert [(e.data or {}).get("tag") for e in made] == ["SB20260309T2300Z", "SB20260310T2300Z"]
    assert await bot_events(db, bot_id, "scheduled_buy_skipped") == []


async def test_missed_slots_are_skipped_by_default(desk: Desk) -> None:
    bot_id = await desk.started_bot(buys_only("skip"))

    # The workers were down through three slots.
    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(days=2, hours=5))

    assert await orders_of(desk.db, bot_id) == []
    assert await slot_rows(desk.db, bot_id) == []
    state = await memory(desk.db, bot_id)
    assert state["missed"] == 3
    assert state["settled_through"] == (MONDAY_SLOT + timedelta(days=2)).isoformat()
    [skipped] = await bot_events(desk.db, bot_id, "scheduled_buy_skipped")
    assert skipped.data is not None and skipped.data["missed"] == 3
    assert await bot_events(desk.db, bot_id, "scheduled_buy_made") == []


async def test_missed_slots_buy_once_with_catch_up_once(desk: Desk) -> None:
    bot_id = await desk.started_bot(buys_only("once"))

    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(days=2, hours=5), times=2)

    assert len(await orders_of(desk.db, bot_id)) == 1  # one buy for three slots, never a burst
    rows = await slot_rows(desk.db, bot_id)
    assert [(r.slot_at, r.missed_before) for r in rows] == [(MONDAY_SLOT + timedelta(days=2), 2)]
    assert (await memory(desk.db, bot_id))["missed"] == 2


async def test_a_slot_is_never_bought_twice_even_if_the_bot_forgets_it(desk: Desk) -> None:
    await never_twice(desk)


async def test_the_same_on_sqlite_the_embedded_mode(
    settings: Settings, sqlite_db: Database, sim: BinanceSimulator, clock: Clock
) -> None:
    sim.set_price(SYMBOL, "80000")
    context = runtime_context(settings, sqlite_db, clock, sim_url=sim.url)
    user = await make_user(sqlite_db)
    credential = await make_credential(sqlite_db, settings, user, DEFAULT_API_KEY, DEFAULT_SECRET)
    try:
        await never_twice(Desk(context, sqlite_db, clock, user, credential))
    finally:
        await context.close()


async def never_twice(desk: Desk) -> None:
    db = desk.db
    bot_id = await desk.started_bot(buys_only())
    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(minutes=1))
    assert len(await orders_of(db, bot_id)) == 1

    # The bot's memory of the slot is lost (a state written back from before the buy).
    state = load_state(await load_bot(db, bot_id))
    state.recurring_buys = {"settled_through": MONDAY_MORNING.isoformat()}
    await set_bot(db, bot_id, state=state.to_json())
    await desk.tick(bot_id)

    assert len(await orders_of(db, bot_id)) == 1  # the (bot, slot) key refused a second buy
    assert len(await slot_rows(db, bot_id)) == 1
    assert (await memory(db, bot_id))["settled_through"] == MONDAY_SLOT.isoformat()
    # The owner reads one buy, and the second try at its slot skipped.
    assert len(await bot_events(db, bot_id, "scheduled_buy_made")) == 1
    [skipped] = await bot_events(db, bot_id, "scheduled_buy_skipped")
    assert skipped.data is not None and skipped.data["slot"] == MONDAY_SLOT.isoformat()


async def test_a_slot_refused_by_the_kill_switch_is_skipped_and_says_why(desk: Desk) -> None:
    bot_id = await desk.started_bot(buys_only())
    # The step's start keeps trusting its earlier read (no kill switch), however slow the
    # machine: what refuses the buy is the decision's own read, inside its transaction.
    desk.ctx.options = replace(desk.ctx.options, kill_switch_cache_seconds=3600)
    async with desk.db.session_scope() as session:
        session.add(
            KillSwitch(scope=GLOBAL_KILL_SWITCH, engaged=True, reason="drill", changed_at=NOW)
        )
    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(minutes=1))

    [order] = await orders_of(desk.db, bot_id)
    assert order.status == "denied" and order.error == "kill switch: drill"
    assert await bot_events(desk.db, bot_id, "scheduled_buy_made") == []
    [skipped] = await bot_events(desk.db, bot_id, "scheduled_buy_skipped")
    assert skipped.data is not None and skipped.data["slot"] == MONDAY_SLOT.isoformat()
    assert "refused before it was sent" in skipped.message
    [denied] = await bot_events(desk.db, bot_id, "order_denied")
    assert "kill switch: drill" in denied.message


async def test_a_restart_does_not_buy_the_slots_of_the_time_it_was_stopped(desk: Desk) -> None:
    bot_id = await desk.started_bot(buys_only("once"))

    restarted = MONDAY_SLOT + timedelta(days=3, hours=1)  # stopped since Monday, started now
    await set_bot(desk.db, bot_id, status="starting", started_at=restarted)
    await desk.tick(bot_id, at=restarted, times=2)

    assert await orders_of(desk.db, bot_id) == []
    assert (await memory(desk.db, bot_id)).get("missed", 0) == 0


async def test_deals_ignore_the_scheduled_buys_of_the_same_bot(desk: Desk) -> None:
    strategy = {
        "base_order_volume": "200",
        "safety_order_volume": "100",
        "safety_order_step_percentage": "2",
        "max_safety_orders": 1,
        "take_profit": "1.5",
        "schedule": {"amount": "100", "every": "daily", "timezone": "Europe/Paris"},
    }
    bot_id = await desk.started_bot(strategy)
    await desk.tick(bot_id)  # the base order filled: safety order and take profit rest
    # The slot's buy, then its fill reaches the strategy, which leaves it alone.
    await desk.tick(bot_id, at=MONDAY_SLOT + timedelta(minutes=1), times=2)

    orders = await orders_of(desk.db, bot_id)
    assert sorted(tag_of(o) or "" for o in orders) == [
        "D1.BO",
        "D1.SO1",
        "D1.TP1",
        "SB20260309T2300Z",
    ]
    deal = (await load_bot(desk.db, bot_id)).state["strategy"]
    assert D(deal["bought_amount"]) == D("0.0025")  # the base order only: 200 USDT at 80,000
    take_profit = next(o for o in orders if tag_of(o) == "D1.TP1")
    # The deal's base net of the 0.1% fee, rounded down to the step: the scheduled buy's
    # 0.00125 stays out of the deal.
    assert take_profit.amount == D("0.00249") and take_profit.status == "open"
