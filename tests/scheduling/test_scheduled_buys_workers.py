"""Recurring buys with real processes: two beats, a worker killed right after the slot's buy
reached the exchange, duplicated and redelivered tick and claim messages, and the bot's memory of
the slot lost afterwards. The slot is bought exactly once: one order, one exchange request, one
fill, one ``scheduled_buys`` row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from autogrid.bots.state import load_state
from autogrid.core.config import Settings
from autogrid.core.db import Database
from autogrid.models import ScheduledBuy
from autogrid.orders.values import tag_of
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, SimulatorProcess
from tests.support.factories import (
    SYMBOL,
    fills_of,
    load_bot,
    make_bot,
    make_credential,
    make_user,
    orders_of,
    set_bot,
)
from tests.support.faulty_worker import KILLED_EXIT_CODE, KillPoint
from tests.support.workers import Faults, Stack, eventually, flush_prefix, isolated_settings
from tests.worker.processes import all_running

pytestmark = pytest.mark.slow

NEW_YEAR = datetime(2026, 1, 1, tzinfo=UTC)
# Once a year, at New Year; the bot "ran" since mid-December while every worker was down.
YEARLY_ONCE: dict[str, Any] = {
    "deals": False,
    "schedule": {"amount": "100", "cron": "0 0 1 1 *", "catch_up": "once"},
}
CLAIM_TASK = "autogrid.scheduling.tasks.claim_due_ticks"


@pytest.fixture
def sim_process() -> Iterator[SimulatorProcess]:
    with SimulatorProcess() as simulator:
        yield simulator


@pytest.fixture
def stack(
    settings: Settings, db: Database, tmp_path: Path, sim_process: SimulatorProcess
) -> Iterator[Stack]:
    processes = Stack(isolated_settings(settings, tmp_path), tmp_path, sim_process.url)
    yield processes
    processes.close()
    flush_prefix(processes.settings)


async def test_one_buy_per_slot_under_duplicated_beat_worker_kill_and_redelivery(
    stack: Stack, db: Database, settings: Settings, sim_process: SimulatorProcess
) -> None:
    sim = sim_process.client
    sim.set_price(SYMBOL, "80000")
    user_id = await make_user(db)
    credential = await make_credential(db, settings, user_id, DEFAULT_API_KEY, DEFAULT_SECRET)
    bot_id = await make_bot(
        db,
        user_id,
        status="starting",
        bot_type="dca",
        strategy=YEARLY_ONCE,
        credential_id=credential,
        investment=None,
    )
    await set_bot(db, bot_id, started_at=datetime(2025, 12, 15, tzinfo=UTC))

    with stack.worker("doomed", Faults(kill_at=KillPoint.AFTER_SEND)) as doomed:
        stack.tick(bot_id)
        await eventually(lambda: doomed.poll() is not None, stack)
    assert doomed.returncode == KILLED_EXIT_CODE
    [order] = await orders_of(db, bot_id)
    assert (tag_of(order), order.status) == ("SB20260101T0000Z", "submitting")
    assert sim.create_request_count(order.client_order_id) == 1  # the exchange has it

    with all_running(stack.worker("survivor"), stack.beat("beat-a"), stack.beat("beat-b")):
        for _ in range(3):  # duplicated ticks and claims on top of the two beats'
            stack.tick(bot_id)
            stack.app.send_task(CLAIM_TASK)

        async def filled() -> bool:
            [row] = await orders_of(db, bot_id)
            return row.status == "filled" and len(await fills_of(db, bot_id)) == 1

        await eventually(filled, stack)

        # The bot forgets it bought the slot (a state from before the buy written back): every
        # following tick sees New Year's slot due again, and its key refuses it.
        state = load_state(await load_bot(db, bot_id))
        forgotten = {**(state.recurring_buys or {}), "settled_through": "2025-12-20T00:00:00+00:00"}
        state.recurring_buys = forgotten
        await set_bot(db, bot_id, state=state.to_json())
        for _ in range(3):
            stack.tick(bot_id)

        async def settled_again() -> bool:
            memory = load_state(await load_bot(db, bot_id)).recurring_buys or {}
            return bool(memory.get("settled_through") == NEW_YEAR.isoformat())

        await eventually(settled_again, stack)

    orders = await orders_of(db, bot_id)
    assert [(tag_of(o), o.status) for o in orders] == [("SB20260101T0000Z", "filled")]
    assert sim.create_request_counts() == {order.client_order_id: 1}
    assert len(sim.trades()) == 1 and len(await fills_of(db, bot_id)) == 1
    async with db.session_scope() as session:
        rows = (await session.scalars(select(ScheduledBuy))).all()
    assert [(r.bot_id, r.slot_at, r.order_id) for r in rows] == [(bot_id, NEW_YEAR, order.id)]
    memory = load_state(await load_bot(db, bot_id)).recurring_buys or {}
    assert memory["buys"] == 1  # the refusal is no buy
