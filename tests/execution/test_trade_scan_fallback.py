"""The fallback for an exchange that cannot list one order's trades: the symbol's history is
scanned a bounded number of pages per call, and each call goes on where the last one stopped
(``orders.trades_scanned_to``), across managers (ticks, workers), until the fill is found.

The connector is the real ccxt one against the simulator, told (through ccxt's own ``has``) that
the exchange cannot ask by order, as for Kraken's "emulated" fetchOrderTrades."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

import pytest

from autogrid.core.db import Database
from autogrid.exchanges.types import OrderType, Side
from autogrid.execution import submit, trades
from autogrid.execution.order_manager import OrderManager
from autogrid.execution.order_writer import Intent
from autogrid.execution.trade_scan import SCAN_PAGE, SCAN_PAGES
from autogrid.market_data.timeframes import datetime_to_ms
from autogrid.trading.orders import OrderStatus as S
from tests.exchange_sim import BinanceSimulator
from tests.support.contexts import TEST_POLICY
from tests.support.factories import (
    SYMBOL,
    Clock,
    bot_ref,
    fills_of,
    make_bot,
    make_user,
    order_by_id,
)
from tests.support.fixtures import ConnectorMaker

D = Decimal
MY_TRADES = "/api/v3/myTrades"


@pytest.fixture
def client_timeout_ms() -> int:
    """These tests count the trade reads and inject no delay: a page of 500 trades outlasted
    the usual 500 ms on a loaded CI machine, and its retried read was one read too many."""
    return 30_000


def scanning_manager(
    db: Database,
    make_connector: ConnectorMaker,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    clock: Clock,
) -> OrderManager:
    """A fresh manager (as a new tick or worker builds one) whose exchange cannot list an
    order's trades."""
    connector = make_connector()
    ccxt_client = connector.inner._exchange  # type: ignore[attr-defined]
    ccxt_client.has = {**ccxt_client.has, "fetchOrderTrades": "emulated"}
    return OrderManager(db, connector, bot_ref(bot_id, user_id), policy=TEST_POLICY, clock=clock)


async def placed_order(db: Database, manager: OrderManager) -> uuid.UUID:
    intent = Intent("B1", Side.BUY, OrderType.LIMIT, D("0.001"), D("99000"))
    async with db.session_scope() as session:
        order, _ = manager.add_order(session, intent, manager.clock())
    await submit.submit(manager, order.id)
    return order.id


def trade_reads(sim: BinanceSimulator, since_seq: int) -> list[dict[str, str]]:
    return [r.params for r in sim.request_log("GET", MY_TRADES) if r.seq > since_seq]


async def test_the_scan_goes_on_where_it_stopped_a_few_pages_per_call_until_the_fill(
    database: Database, sim: BinanceSimulator, make_connector: ConnectorMaker
) -> None:
    db = database  # PostgreSQL and SQLite: the cursor is compared and moved in SQL
    user_id = await make_user(db)
    bot_id = await make_bot(db, user_id)
    clock = Clock()
    clock.move(-600)  # our order went out ten minutes ago
    manager = scanning_manager(db, make_connector, bot_id, user_id, clock)
    order_id = await placed_order(db, manager)
    # Then more trades of other orders than two calls read (a call reads at most 2,000).
    sim.add_past_trades(2 * SCAN_PAGES * SCAN_PAGE + 600, SYMBOL, spread_ms=240_000)
    ours = sim.fill_order(int((await order_by_id(db, order_id)).exchange_order_id or 0))

    cursors: list[datetime] = []
    for call in range(3):
        seq = sim.requests[-1].seq
        manager = scanning_manager(db, make_connector, bot_id, user_id, clock)
        applied = await trades.fetch_trades(manager, [order_id])
        reads = trade_reads(sim, seq)
        order = await order_by_id(db, order_id)
        assert len(reads) <= SCAN_PAGES
        assert all("orderId" not in r for r in reads)  # scanned, not asked by order
        if cursors:  # goes on from the stored cursor, not from the order's submission
            assert reads[0]["startTime"] == str(datetime_to_ms(cursors[-1]))
        assert order.trades_scanned_to is not None
        cursors.append(order.trades_scanned_to)
        if call < 2:
            assert (applied, order.status) == (0, S.OPEN)
    assert cursors == sorted(cursors) and len(set(cursors)) == 3
    assert (applied, order.status, order.filled) == (1, S.FILLED, ours.qty)
    assert [f.trade_id for f in await fills_of(db, bot_id)] == [str(ours.trade_id)]
    assert datetime_to_ms(cursors[-1]) == ours.time  # it stops at the last trade it saw


async def test_a_scan_that_found_the_fill_applies_it_once_and_rereads_only_the_tail(
    db: Database,
    sim: BinanceSimulator,
    make_connector: ConnectorMaker,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
) -> None:
    clock = Clock()
    clock.move(-120)
    manager = scanning_manager(db, make_connector, bot_id, user_id, clock)
    order_id = await placed_order(db, manager)
    sim.add_past_trades(SCAN_PAGE + 200, SYMBOL, spread_ms=60_000)
    sim.fill_order(int((await order_by_id(db, order_id)).exchange_order_id or 0))
    assert await trades.fetch_trades(manager, [order_id]) == 1

    seq = sim.requests[-1].seq
    assert await trades.fetch_trades(manager, [order_id]) == 0
    assert len(trade_reads(sim, seq)) == 1  # one short page from the cursor on
    assert len(await fills_of(db, bot_id)) == 1


async def test_a_busy_instant_is_stepped_past_rather_than_read_forever(
    db: Database,
    sim: BinanceSimulator,
    make_connector: ConnectorMaker,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
) -> None:
    clock = Clock()
    clock.move(-120)
    manager = scanning_manager(db, make_connector, bot_id, user_id, clock)
    order_id = await placed_order(db, manager)
    sim.add_past_trades(2 * SCAN_PAGE + 200, SYMBOL)  # all in one millisecond: over two pages
    [busy] = {t.time for t in sim.trades()}

    await trades.fetch_trades(manager, [order_id])

    scanned_to = (await order_by_id(db, order_id)).trades_scanned_to
    assert scanned_to is not None and datetime_to_ms(scanned_to) == busy + 1


@pytest.mark.parametrize("per_ms", [7, 120, 260])
async def test_trades_crowded_into_milliseconds_across_pages_still_lead_to_the_fill(
    db: Database,
    sim: BinanceSimulator,
    make_connector: ConnectorMaker,
    bot_id: uuid.UUID,
    user_id: uuid.UUID,
    per_ms: int,
) -> None:
    # Each page ends inside a crowded millisecond, which the next page reads again from its start.
    clock = Clock()
    clock.move(-120)
    manager = scanning_manager(db, make_connector, bot_id, user_id, clock)
    order_id = await placed_order(db, manager)
    count = 3 * SCAN_PAGE + 130
    sim.add_past_trades(count, SYMBOL, spread_ms=count // per_ms)
    ours = sim.fill_order(int((await order_by_id(db, order_id)).exchange_order_id or 0))

    last_cursor = None
    for _ in range(6):
        seq = sim.requests[-1].seq
        await trades.fetch_trades(
            scanning_manager(db, make_connector, bot_id, user_id, clock), [order_id]
        )
        assert len(trade_reads(sim, seq)) <= SCAN_PAGES
        order = await order_by_id(db, order_id)
        assert order.trades_scanned_to is not None
        assert last_cursor is None or order.trades_scanned_to > last_cursor  # always onwards
        last_cursor = order.trades_scanned_to
        if order.status == S.FILLED:
            break
    assert (order.status, order.filled) == (S.FILLED, ours.qty)
    assert [f.trade_id for f in await fills_of(db, bot_id)] == [str(ours.trade_id)]
