"""Property: whatever sequence of answers the exchange gives to creates (accepted, refused for a
rate limit or the clock, unknown and executed, unknown and never executed, definitively rejected)
and to the lookups that follow, the order manager keeps at most one live order per tag, in our
books and on the exchange, never sends a client order id twice, and every intent ends either
resting on the exchange or with a reason its owner can read (an event).

Real ccxt against the simulator and the real database; the test's clock runs the grace windows
and Retry-After waits.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autogrid.core.db import Database
from autogrid.events.types import EventType
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.reconcile import execute_pending, sync_orders
from autogrid.orders.store import NON_TERMINAL_STATUSES
from autogrid.orders.values import tag_of
from autogrid.trading.orders import OrderStatus
from tests.exchange_sim import BinanceSimulator
from tests.execution.test_order_manager import intend
from tests.execution.test_refused_creates import check_one_live_per_tag
from tests.support.contexts import TEST_POLICY
from tests.support.factories import Clock, bot_events, bot_ref, make_bot, orders_of
from tests.support.fixtures import ConnectorMaker

S = OrderStatus
ORDER = "POST /api/v3/order"
LOOKUP = "GET /api/v3/order"

# What the exchange answers to one create (the simulator's faults, consumed in order).
CREATE_ANSWERS: dict[str, dict[str, Any]] = {
    "accepted": {"kind": "delay", "seconds": 0},
    "429": {"kind": "rate_limit", "retry_after": 0},
    "418": {"kind": "ip_ban", "retry_after": 0},
    "-1021": {"kind": "timestamp"},
    "500-not-executed": {"kind": "http_error", "status": 500},
    "500-executed": {"kind": "http_error", "status": 500, "execute": True},
    "lost-executed": {"kind": "accepted_response_lost"},
    "-1007-not-executed": {
        "kind": "binance_error",
        "status": 400,
        "code": -1007,
        "msg": "Timeout waiting for response from backend server.",
        "retry_after": 0,
    },
    "insufficient": {
        "kind": "binance_error",
        "status": 400,
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
        "retry_after": 0,
    },
}
# And to a lookup of an unknown order (before the answer, which is "not found" or the order).
LOOKUP_ANSWERS: dict[str, dict[str, Any] | None] = {
    "answered": None,
    "503": {"kind": "http_error", "status": 503, "times": 3},  # every retry of one lookup
}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tags=st.integers(min_value=1, max_value=2),
    creates=st.lists(st.sampled_from(sorted(CREATE_ANSWERS)), min_size=1, max_size=8),
    lookups=st.lists(st.sampled_from(sorted(LOOKUP_ANSWERS)), max_size=4),
)
async def test_every_intent_ends_placed_or_explained_with_one_live_order_per_tag(
    db: Database,
    sim: BinanceSimulator,
    make_connector: ConnectorMaker,
    user_id: uuid.UUID,
    tags: int,
    creates: list[str],
    lookups: list[str],
) -> None:
    sim.reset()
    clock = Clock()
    bot_id = await make_bot(db, user_id)
    manager = OrderManager(
        db, make_connector(), bot_ref(bot_id, user_id), policy=TEST_POLICY, clock=clock
    )
    for name in creates:
        sim.inject_fault(endpoint=ORDER, **CREATE_ANSWERS[name])
    for name in lookups:
        fault = LOOKUP_ANSWERS[name]
        if fault is not None:
            sim.inject_fault(endpoint=LOOKUP, **fault)
    wanted = [f"B{i}" for i in range(tags)]
    for tag in wanted:
        await intend(db, manager, tag=tag)

    for _ in range(80):
        await execute_pending(manager)
        await check_one_live_per_tag(db, manager, sim)
        await sync_orders(manager)
        await check_one_live_per_tag(db, manager, sim)
        rows = await orders_of(db, bot_id)
        if not any(o.status in (S.NEW, S.SUBMITTING, S.UNKNOWN) for o in rows):
            break
        clock.move(TEST_POLICY.spacing_seconds)
    else:
        raise AssertionError("orders still in flight")

    rows = await orders_of(db, bot_id)
    ours = {o.client_order_id: o for o in rows}
    counts = sim.create_request_counts()
    assert all(counts.get(cid, 0) <= 1 for cid in ours)  # no client order id sent twice
    on_exchange = [o for o in sim.orders() if o.client_order_id in ours]
    # Everything the exchange holds of ours is known to us as what it is.
    for placed in on_exchange:
        assert placed.status == "NEW" and ours[placed.client_order_id].status == S.OPEN
    explained = {
        (event.data or {}).get("tag")
        for kind in (EventType.ORDER_REJECTED, EventType.ORDER_NOT_PLACED)
        for event in await bot_events(db, bot_id, kind)
    }
    for tag in wanted:
        live = [o for o in rows if tag_of(o) == tag and o.status in NON_TERMINAL_STATUSES]
        resting = [o for o in on_exchange if tag_of(ours[o.client_order_id]) == tag]
        if live:
            assert [o.status for o in live] == [S.OPEN]
            assert [o.client_order_id for o in resting] == [live[0].client_order_id]
        else:
            assert tag in explained, (tag, [(o.status, o.error) for o in rows])
            assert resting == []
