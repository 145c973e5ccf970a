"""No silent drop (issue 9, finding 1): a create the exchange refused (429, 418, -1021) or whose
outcome was unknown and concluded "not found" (a bare 500) is placed again under a new client
order id, after the wait the exchange asked for; the old id is never live, the tag never has two
live orders, and the owner can read what happened (an event). An intent the exchange keeps
refusing ends with an event and the bot halted by its breaker, never silently ``running``."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from autogrid.bots import scheduled_buy_repository as slots
from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.reconcile import execute_pending, sync_orders
from autogrid.execution.replacement import MAX_SUBMIT_ATTEMPTS
from autogrid.models import BotStatus, Order, ScheduledBuy
from autogrid.orders.store import NON_TERMINAL_STATUSES
from autogrid.orders.values import tag_of
from autogrid.scheduling.ticking import tick_bot
from autogrid.trading.orders import OrderStatus
from tests.exchange_sim import BinanceSimulator
from tests.execution.test_order_manager import intend
from tests.support.contexts import TEST_POLICY
from tests.support.factories import (
    Clock,
    LiveAccount,
    bot_events,
    bot_ref,
    load_bot,
    make_bot,
    order_by_id,
    orders_of,
)
from tests.support.fixtures import ConnectorMaker

D = Decimal
S = OrderStatus
ORDER = "POST /api/v3/order"

REFUSALS = {
    "429": {"kind": "rate_limit", "retry_after": 1},
    "418": {"kind": "ip_ban", "retry_after": 1},
    "-1021": {"kind": "timestamp"},
    "429/-1015": {
        "kind": "binance_error",
        "status": 429,
        "code": -1015,
        "msg": "Too many new orders.",
        "retry_after": 1,
    },
}
UNKNOWN_BUT_NOT_EXECUTED = {"bare-500": {"kind": "http_error", "status": 500}}


async def tries_of(db: Database, bot_id: uuid.UUID) -> list[Order]:
    """The bot's orders, each intent's tries in order (the test clock may not move between)."""
    rows = await orders_of(db, bot_id)
    return sorted(rows, key=lambda o: (tag_of(o) or "", (o.intent or {}).get("attempt", 1)))


def live_by_tag(orders: list[Order]) -> dict[str | None, list[Order]]:
    found: dict[str | None, list[Order]] = {}
    for order in orders:
        if order.status in NON_TERMINAL_STATUSES:
            found.setdefault(tag_of(order), []).append(order)
    return found


async def check_one_live_per_tag(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    """The invariant: never two live orders for one tag, in our books or on the exchange."""
    orders = await orders_of(db, manager.bot.bot_id)
    assert all(len(rows) == 1 for rows in live_by_tag(orders).values()), live_by_tag(orders)
    tags = {o.client_order_id: tag_of(o) for o in orders}
    resting = [
        tags[o.client_order_id] for o in sim.orders(status="NEW") if o.client_order_id in tags
    ]
    assert len(resting) == len(set(resting)), resting


async def settle(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock, rounds: int = 40
) -> None:
    """What ticks do, until nothing is in flight or waiting: look up, send what is due, let the
    test clock run (spacing of lookups, Retry-After waits)."""
    for _ in range(rounds):
        await sync_orders(manager)
        await check_one_live_per_tag(db, manager, sim)
        await execute_pending(manager)
        await check_one_live_per_tag(db, manager, sim)
        rows = await orders_of(db, manager.bot.bot_id)
        if not any(o.status in (S.NEW, S.SUBMITTING, S.UNKNOWN) for o in rows):
            return
        clock.move(TEST_POLICY.spacing_seconds)
    raise AssertionError("orders still in flight")


@pytest.mark.parametrize(
    "fault",
    [*REFUSALS.values(), *UNKNOWN_BUT_NOT_EXECUTED.values()],
    ids=[*REFUSALS, *UNKNOWN_BUT_NOT_EXECUTED],
)
async def test_a_create_that_never_executed_is_placed_again_under_a_new_client_id(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock, fault: dict[str, Any]
) -> None:
    order_id = await intend(db, manager, tag="B1")
    first = (await order_by_id(db, order_id)).client_order_id
    sim.inject_fault(endpoint=ORDER, **fault)

    await execute_pending(manager)
    await settle(db, manager, sim, clock)

    orders = await tries_of(db, manager.bot.bot_id)
    assert [o.status for o in orders] == [S.REJECTED, S.OPEN]
    old, placed = orders
    assert old.client_order_id == first and placed.client_order_id != first
    assert (placed.intent or {})["tag"] == "B1" and (placed.intent or {})["replaces"] == first
    # The refused id never lived on the exchange; the new one rests there, alone.
    assert sim.create_request_count(first) == 1
    assert sim.orders(client_order_id=first) == []
    [resting] = sim.orders(status="NEW")
    assert resting.client_order_id == placed.client_order_id
    [event] = await bot_events(db, manager.bot.bot_id, EventType.ORDER_REPLACED)
    assert event.data == {
        "tag": "B1",
        "client_order_id": first,
        "attempt": 2,
        "replacement": placed.client_order_id,
    }


async def test_a_rate_limited_create_waits_out_retry_after_before_it_is_placed_again(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    await intend(db, manager, tag="B1")
    sim.inject_fault("rate_limit", ORDER, retry_after=2)

    await execute_pending(manager)
    rejected, waiting = await tries_of(db, manager.bot.bot_id)
    assert (rejected.status, waiting.status) == (S.REJECTED, S.NEW)
    clock.move(1.5)
    await execute_pending(manager)  # still inside the 2 s the exchange asked for
    assert sim.create_request_count(waiting.client_order_id) == 0

    clock.move(0.5)
    await execute_pending(manager)
    assert (await order_by_id(db, waiting.id)).status == S.OPEN
    assert sim.create_request_count(waiting.client_order_id) == 1


async def test_a_clock_refusal_is_placed_again_at_once_after_the_resync(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    await intend(db, manager, tag="B1")
    sim.set_clock_offset(-20_000)  # a real -1021: our clock runs 20 s ahead of the exchange's

    await execute_pending(manager)  # one call: refused, resynchronised, placed again

    rejected, placed = await tries_of(db, manager.bot.bot_id)
    assert (rejected.status, placed.status) == (S.REJECTED, S.OPEN)
    assert len(sim.request_log("GET", "/api/v3/time")) == 1


async def test_a_definitive_rejection_is_not_placed_again_but_recorded(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    await intend(db, manager, tag="B1", amount="5")  # far beyond the account's 10,000 USDT
    await execute_pending(manager)
    await settle(db, manager, sim, clock)
    [order] = await orders_of(db, manager.bot.bot_id)
    assert order.status == S.REJECTED
    [event] = await bot_events(db, manager.bot.bot_id, EventType.ORDER_REJECTED)
    assert "insufficient" in event.message.lower()
    assert event.data is not None and event.data["tag"] == "B1"


async def test_a_withdrawn_intent_is_not_placed_again(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    order_id = await intend(db, manager, tag="B1")
    sim.inject_fault("http_error", ORDER, status=500)
    await execute_pending(manager)
    async with db.session_scope() as session:  # the strategy cancels it while it is UNKNOWN
        order = await session.get(Order, order_id)
        assert order is not None and order.status == S.UNKNOWN
        await manager.cancel_in(session, order, clock.now)
    await settle(db, manager, sim, clock)
    assert [o.status for o in await orders_of(db, manager.bot.bot_id)] == [S.REJECTED]
    assert sim.orders() == []


async def test_an_intent_refused_on_every_attempt_ends_with_an_event_and_a_halted_bot(
    live: LiveAccount,
) -> None:
    before = (
        REGISTRY.get_sample_value("autogrid_breaker_trips_total", {"reason": "order_not_placed"})
        or 0.0
    )
    bot_id = await live.bot(status="starting")
    live.sim.inject_fault("timestamp", ORDER, times=None)  # every create: -1021

    await tick_bot(live.ctx, bot_id)

    bot = await load_bot(live.db, bot_id)
    assert bot.status == BotStatus.HALTED
    assert bot.breaker_reason is not None
    assert f"not placed after {MAX_SUBMIT_ATTEMPTS} attempts" in bot.breaker_reason
    assert bot.state["breaker"]["tripped_reason"] == bot.breaker_reason
    events = await bot_events(live.db, bot_id, EventType.ORDER_NOT_PLACED)
    assert events and all("-1021" in e.message or "Timestamp" in e.message for e in events)
    assert [e.message for e in await bot_events(live.db, bot_id, "breaker_tripped")] == [
        bot.breaker_reason
    ]
    tripped = REGISTRY.get_sample_value(
        "autogrid_breaker_trips_total", {"reason": "order_not_placed"}
    )
    assert tripped == before + 1
    orders = await orders_of(live.db, bot_id)
    assert not any(o.status in NON_TERMINAL_STATUSES for o in orders if o.status != S.DENIED)
    assert live.sim.orders() == []
    # Each tag was tried MAX_SUBMIT_ATTEMPTS times, each under its own client order id.
    by_tag: dict[str | None, list[Order]] = {}
    for order in orders:
        by_tag.setdefault(tag_of(order), []).append(order)
    for tag, rows in by_tag.items():
        if any(tag == (e.data or {}).get("tag") for e in events):
            assert len({o.client_order_id for o in rows}) == MAX_SUBMIT_ATTEMPTS


async def test_a_recurring_buy_slot_follows_its_buy_when_it_is_placed_again(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager, price=None, tag="RB1")
    async with db.session_scope() as session:
        slot_id = await slots.claim_slot(session, manager.bot.bot_id, sim_time(), D(100), 0)
        assert slot_id is not None
        await slots.link_order(session, slot_id, order_id)
    sim.inject_fault("timestamp", ORDER)

    await execute_pending(manager)

    rejected, bought = await tries_of(db, manager.bot.bot_id)
    assert (rejected.id, rejected.status, bought.status) == (order_id, S.REJECTED, S.FILLED)
    async with db.session_scope() as session:
        slot = await session.get(ScheduledBuy, slot_id)
        assert slot is not None and slot.order_id == bought.id


def sim_time() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


async def test_an_order_that_appears_after_it_was_concluded_never_placed_is_cancelled(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    """Eventual consistency beyond the grace window: the first order shows up after its
    replacement was placed. The twin is recorded and cancelled: one live order per tag."""
    await intend(db, manager, tag="B1")
    # It executes 8 s after it was sent (our create times out after 0.5 s): UNKNOWN.
    sim.inject_fault("delay", ORDER, seconds=8.0, delay_before_execute=True)
    await execute_pending(manager)
    first = (await tries_of(db, manager.bot.bot_id))[0].client_order_id
    for _ in range(20):  # the test clock runs out the grace window long before 8 s have passed
        await sync_orders(manager)
        await execute_pending(manager)
        if len(await orders_of(db, manager.bot.bot_id)) == 2:
            break
        clock.move(TEST_POLICY.spacing_seconds)
    old, placed = await tries_of(db, manager.bot.bot_id)
    assert (old.status, placed.status) == (S.REJECTED, S.OPEN)
    await eventually_on_exchange(sim, first)  # the late execution lands

    await sync_orders(manager)

    [twin] = sim.orders(client_order_id=first)
    assert twin.status == "CANCELED"
    assert [o.client_order_id for o in sim.orders(status="NEW")] == [placed.client_order_id]
    [anomaly] = await bot_events(db, manager.bot.bot_id, "order_anomaly")
    assert anomaly.data == {"client_order_id": first, "kind": "order_found_after_rejected"}
    await check_one_live_per_tag(db, manager, sim)


async def eventually_on_exchange(sim: BinanceSimulator, client_order_id: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while not sim.orders(client_order_id=client_order_id):
        assert asyncio.get_running_loop().time() < deadline, "the late order never executed"
        await asyncio.sleep(0.05)


async def test_a_stopped_bots_order_never_placed_is_explained_not_placed_again(
    db: Database,
    make_connector: ConnectorMaker,
    sim: BinanceSimulator,
    clock: Clock,
    user_id: uuid.UUID,
) -> None:
    """The periodic reconciliation settles a stopped bot's unknown order: nothing is wanted any
    more, so no replacement (it would be sent at the next start, from the last run)."""
    bot_id = await make_bot(db, user_id, status="stopped")
    ref = replace(bot_ref(bot_id, user_id), places_orders=False)
    manager = OrderManager(db, make_connector(), ref, policy=TEST_POLICY, clock=clock)
    await intend(db, manager, tag="B1")
    sim.inject_fault("http_error", ORDER, status=500)
    await execute_pending(manager)

    await settle(db, manager, sim, clock)

    assert [o.status for o in await orders_of(db, bot_id)] == [S.REJECTED]
    [event] = await bot_events(db, bot_id, EventType.ORDER_NOT_PLACED)
    assert "not placed again" in event.message
    assert event.data is not None and event.data["tag"] == "B1"
