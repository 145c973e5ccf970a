"""The database-backed order manager against the Binance simulator through real ccxt: every
transition is stored with its event before the side effect, ambiguity becomes UNKNOWN and is
settled only by the client order id, fills are applied once, and nothing is ever sent twice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from decimal import Decimal

from autogrid.core.db import Database
from autogrid.exchanges import errors
from autogrid.exchanges.types import ExchangeOrder, OrderRequest, OrderType, Side
from autogrid.execution import cancel, lookups, submit, trades
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.execution.replacement import MAX_SUBMIT_ATTEMPTS
from autogrid.models import StrategyInboxEntry
from autogrid.orders.values import CLIENT_ORDER_ID_PREFIX
from autogrid.trading.orders import OrderStatus
from tests.exchange_sim import BinanceSimulator
from tests.support.contexts import TEST_POLICY
from tests.support.factories import (
    Clock,
    count_rows,
    events_of,
    fills_of,
    order_by_id,
    orders_of,
)

D = Decimal
S = OrderStatus
ORDER_PATH = "/api/v3/order"


async def intend(
    db: Database,
    manager: OrderManager,
    side: Side = Side.BUY,
    price: str | None = "90000",
    amount: str = "0.001",
    tag: str = "B1",
) -> uuid.UUID:
    order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    intent = Intent(tag, side, order_type, D(amount), D(price) if price else None)
    async with db.session_scope() as session:
        order, _ = manager.add_order(session, intent, manager.clock())
    return order.id


async def test_a_limit_order_is_stored_before_it_is_sent_and_acknowledged(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager)
    order = await order_by_id(db, order_id)
    assert order.status == S.NEW
    cid = order.client_order_id
    assert cid.startswith(CLIENT_ORDER_ID_PREFIX) and len(cid) == 32
    assert sim.create_request_count(cid) == 0  # persisted first, nothing sent yet

    outcome = await submit.submit(manager, order_id)

    assert outcome is not None and outcome.order.status == S.OPEN
    order = await order_by_id(db, order_id)
    assert order.status == S.OPEN and order.exchange_order_id
    assert order.submitted_at is not None
    assert await events_of(db, order_id) == [
        (None, "new"),
        ("new", "submitting"),
        ("submitting", "open"),
    ]
    assert sim.create_request_count(cid) == 1
    assert order.intent == {"tag": "B1"}


async def test_an_order_is_sent_once_even_when_submitted_twice_at_once(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager)
    first, second = await asyncio.gather(
        submit.submit(manager, order_id), submit.submit(manager, order_id)
    )
    assert [first is None, second is None].count(True) == 1
    order = await order_by_id(db, order_id)
    assert sim.create_request_count(order.client_order_id) == 1
    assert await submit.submit(manager, order_id) is None  # no longer NEW: never sent again


async def test_a_lost_create_response_is_unknown_then_found_by_client_id(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    order_id = await intend(db, manager)
    sim.inject_fault("accepted_response_lost", f"POST {ORDER_PATH}")

    outcome = await submit.submit(manager, order_id)

    # The follow-up lookup ran at once and found the order by its client order id.
    assert outcome is not None and outcome.order.status == S.UNKNOWN
    order = await order_by_id(db, order_id)
    assert order.status == S.OPEN
    assert await events_of(db, order_id) == [
        (None, "new"),
        ("new", "submitting"),
        ("submitting", "unknown"),
        ("unknown", "open"),
    ]
    assert sim.create_request_count(order.client_order_id) == 1
    asked = sim.request_log("GET", ORDER_PATH)
    assert asked and all(r.params.get("origClientOrderId") == order.client_order_id for r in asked)


async def test_an_unknown_order_never_placed_is_rejected_only_after_spaced_lookups(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    order_id = await intend(db, manager)
    # A 503 that the exchange did not act on: the create's outcome is ambiguous to us.
    sim.inject_fault("http_error", f"POST {ORDER_PATH}", status=503)

    await submit.submit(manager, order_id)
    order = await order_by_id(db, order_id)
    assert order.status == S.UNKNOWN
    cid = order.client_order_id

    checks = 0
    while (await order_by_id(db, order_id)).status == S.UNKNOWN:
        await lookups.look_up(manager, order_id)
        clock.move(TEST_POLICY.spacing_seconds)
        checks += 1
        assert checks < 20
    order = await order_by_id(db, order_id)
    assert order.status == S.REJECTED
    assert order.unknown_checks >= TEST_POLICY.max_checks
    assert order.submitted_at is not None
    assert (clock.now - order.submitted_at).total_seconds() >= TEST_POLICY.grace_seconds
    assert sim.create_request_count(cid) == 1  # looked up, never re-sent
    assert sim.orders(client_order_id=cid) == []


async def test_a_market_order_fills_and_each_trade_is_recorded_once(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager, price=None, amount="0.002", tag="INIT")
    outcome = await submit.submit(manager, order_id)

    assert outcome is not None
    order = await order_by_id(db, order_id)
    assert order.status == S.FILLED and order.filled == D("0.002")
    fills = await fills_of(db, manager.bot.bot_id)
    assert len(fills) == len(sim.trades()) >= 1
    assert sum(f.amount for f in fills) == D("0.002")
    assert await count_rows(db, StrategyInboxEntry) == len(fills)

    # Fetching the trades again changes nothing: each trade id is applied once.
    assert await trades.fetch_trades(manager, [order_id]) == 0
    assert len(await fills_of(db, manager.bot.bot_id)) == len(fills)


async def test_cancel_is_committed_before_it_is_sent_and_late_fills_are_kept(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager, amount="0.003")
    await submit.submit(manager, order_id)
    cid = (await order_by_id(db, order_id)).client_order_id
    sim.fill_order(client_order_id=cid, quantity="0.001")  # we have not heard of it yet

    await cancel.request_cancel(manager, order_id)

    order = await order_by_id(db, order_id)
    assert order.status == S.CANCELED
    assert order.filled == D("0.001")  # the cancel answer's executed quantity was fetched
    statuses = [to for _, to in await events_of(db, order_id)]
    assert statuses[-3:] == ["pending_cancel", "partially_filled", "canceled"] or statuses[-2:] == [
        "pending_cancel",
        "canceled",
    ]
    assert len(await fills_of(db, manager.bot.bot_id)) == 1


async def test_a_create_refused_before_sending_is_retried_under_a_new_client_id(
    db: Database, manager: OrderManager, sim: BinanceSimulator, clock: Clock
) -> None:
    """Our shared request budget refuses before anything leaves the process: the replacement
    waits out its Retry-After (a 429 from Binance itself is the same refusal, see
    test_refused_creates.py)."""
    order_id = await intend(db, manager)
    connector = manager.connector
    real_create = connector.create_order

    async def budget_refuses(request: OrderRequest) -> ExchangeOrder:
        connector.create_order = real_create  # type: ignore[method-assign]
        raise errors.RateLimited("request budget exhausted", retry_after=1)

    connector.create_order = budget_refuses  # type: ignore[method-assign]
    await submit.submit(manager, order_id)

    first, replacement = sorted(
        await orders_of(db, manager.bot.bot_id), key=lambda o: (o.intent or {}).get("attempt", 1)
    )
    assert first.status == S.REJECTED
    assert replacement.status == S.NEW
    assert replacement.client_order_id != first.client_order_id
    assert replacement.intent == {
        "tag": "B1",
        "attempt": 2,
        "replaces": first.client_order_id,
        "not_before": (clock.now + timedelta(seconds=1)).isoformat(),
    }
    await submit.submit(manager, replacement.id)
    assert (await order_by_id(db, replacement.id)).status == S.OPEN
    assert sim.create_request_count(first.client_order_id) == 0
    assert sim.create_request_count(replacement.client_order_id) == 1
    assert MAX_SUBMIT_ATTEMPTS >= 2


async def test_insufficient_funds_is_a_definitive_rejection(
    db: Database, manager: OrderManager, sim: BinanceSimulator
) -> None:
    order_id = await intend(db, manager, amount="5")  # 450,000 USDT: far more than the 10,000
    await submit.submit(manager, order_id)
    orders = await orders_of(db, manager.bot.bot_id)
    assert [o.status for o in orders] == [S.REJECTED]  # no retry: the answer is definitive
    assert "insufficient" in (orders[0].error or "").lower()
