"""A real worker process killed at each point of an order's placement, against the simulator in
its own process. After another worker takes the bot over (the dead one's lease expires) and
reconciles, there is exactly one exchange order per intended order (the order killed before it was
sent is concluded never placed and placed again under a new client order id), none sent twice,
and every fill is recorded.

The doomed worker runs with faults injected from outside (``tests/support/faulty_worker.py``: a
wrapping connector, a SQLAlchemy ``before_commit`` listener) and ``os._exit``s on its first
order: after SUBMITTING is committed and before the create is sent; right after the exchange
accepted it (the answer never processed); with the answer written but not committed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autogrid.core.config import Settings
from autogrid.core.db import Database
from tests.exchange_sim import DEFAULT_API_KEY, DEFAULT_SECRET, SimulatorProcess
from tests.support.factories import (
    SYMBOL,
    events_of,
    fills_of,
    make_bot,
    make_credential,
    make_user,
    orders_of,
)
from tests.support.faulty_worker import KILLED_EXIT_CODE, KillPoint
from tests.support.workers import Faults, Stack, eventually, flush_prefix, isolated_settings

pytestmark = pytest.mark.slow

LADDER = 5  # the default test grid: buys at 95000 .. 99000 with the price at 100000


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


@pytest.mark.parametrize("point", list(KillPoint), ids=[p.value for p in KillPoint])
async def test_a_worker_killed_mid_placement_leaves_one_exchange_order_per_intent(
    point: KillPoint,
    stack: Stack,
    db: Database,
    settings: Settings,
    sim_process: SimulatorProcess,
) -> None:
    sim = sim_process.client
    user_id = await make_user(db)
    credential = await make_credential(db, settings, user_id, DEFAULT_API_KEY, DEFAULT_SECRET)
    bot_id = await make_bot(db, user_id, status="starting", credential_id=credential)

    with stack.worker("doomed", Faults(kill_at=point)) as doomed:
        stack.tick(bot_id)
        await eventually(lambda: doomed.poll() is not None, stack)
    assert doomed.returncode == KILLED_EXIT_CODE

    orders = await orders_of(db, bot_id)
    assert len(orders) == LADDER
    first = orders[0]
    assert [o.status for o in orders] == ["submitting"] + ["new"] * (LADDER - 1)
    sent_before = sim.create_request_count(first.client_order_id)
    assert sent_before == (0 if point is KillPoint.BEFORE_SEND else 1)

    with stack.worker("survivor"):

        async def settled() -> list[object] | None:
            stack.tick(bot_id)
            rows = await orders_of(db, bot_id)
            done = all(r.status in ("open", "rejected") for r in rows)
            placed = sum(1 for r in rows if r.status == "open")
            return rows if done and placed == LADDER else None  # type: ignore[return-value]

        await eventually(settled, stack, every=1.0)
        orders = await orders_of(db, bot_id)
        counts = sim.create_request_counts()
        exchange_open = [o for o in sim.orders(status="NEW")]
        # Never sent twice; every order that is open for us is open on the exchange, once.
        assert all(counts.get(o.client_order_id, 0) <= 1 for o in orders)
        mine_open = sorted(o.client_order_id for o in orders if o.status == "open")
        assert sorted(o["clientOrderId"] for o in exchange_open) == mine_open
        history = [to for _, to in await events_of(db, first.id)]
        ending = "rejected" if point is KillPoint.BEFORE_SEND else "open"
        assert history == ["new", "submitting", "unknown", ending]
        if point is KillPoint.BEFORE_SEND:
            # It may or may not have been sent as far as the survivor knew: looked up, not
            # found past the grace window, concluded never placed, and placed again under a
            # new client order id. The first id never reached the exchange.
            assert (await orders_of(db, bot_id))[0].status == "rejected"
            assert counts.get(first.client_order_id, 0) == 0
            [replacement] = [
                o
                for o in orders
                if o.client_order_id not in {first.client_order_id}
                and (o.intent or {}).get("replaces") == first.client_order_id
            ]
            assert replacement.status == "open"
            assert (replacement.intent or {})["tag"] == (first.intent or {})["tag"]
            assert len(mine_open) == LADDER
        else:
            assert len(mine_open) == LADDER
            assert counts[first.client_order_id] == 1

        # The open buys at 98000 and 99000 fill (the first one sent is the lowest, 95000).
        reached = sum(1 for o in orders if o.status == "open" and (o.price or 0) >= 98000)
        assert reached == 2
        sim.set_price(SYMBOL, "97500")

        async def fills_recorded() -> bool:
            stack.tick(bot_id)
            recorded = {f.trade_id for f in await fills_of(db, bot_id)}
            return recorded == {str(t["id"]) for t in sim.trades()}

        await eventually(fills_recorded, stack, every=1.0)
    assert len(sim.trades()) == reached
