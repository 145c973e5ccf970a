"""CcxtConnector.fetch_order_trades: one order's trades asked by that order (Binance
``myTrades?orderId``), paged past a full page, never another order's; None where ccxt cannot ask
an exchange by order."""

from __future__ import annotations

from decimal import Decimal

import pytest

from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.types import Side
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker, limit_order

D = Decimal
BTC = "BTC/USDT"
MY_TRADES = "/api/v3/myTrades"


@pytest.fixture
def connector(make_connector: ConnectorMaker) -> CcxtConnector:
    """These tests count requests: a page of 1,000 trades served on a loaded machine must not
    outlast the suite's short client timeout, or a retried read adds one."""
    return make_connector(timeout_ms=30_000)


async def test_an_order_filled_in_2345_parts_among_other_trades_takes_three_requests(
    connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    created = await connector.create_order(
        await limit_order(connector, "many-parts", side=Side.SELL, amount="0.02345", price="101000")
    )
    sim.add_past_trades(1500, BTC)
    for _ in range(2345):
        sim.fill_order(int(created.exchange_order_id), quantity="0.00001")
    sim.add_past_trades(700, BTC)
    before = len(sim.request_log("GET", MY_TRADES))

    trades = await connector.fetch_order_trades(BTC, created.exchange_order_id)

    assert trades is not None and len(trades) == 2345
    assert len({t.trade_id for t in trades}) == 2345
    assert {t.exchange_order_id for t in trades} == {created.exchange_order_id}
    assert sum(t.amount for t in trades) == D("0.02345")
    assert [t.ts for t in trades] == sorted(t.ts for t in trades)
    requests = sim.request_log("GET", MY_TRADES)[before:]
    assert len(requests) == 3  # 1000, then from the last id on (inclusive): 1000, 347
    assert all(r.params["orderId"] == created.exchange_order_id for r in requests)
    assert [r.params.get("fromId") is None for r in requests] == [True, False, False]


async def test_an_order_without_trades_is_one_request_and_empty(
    connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    created = await connector.create_order(await limit_order(connector, "resting", price="90000"))
    sim.add_past_trades(2000, BTC)
    before = len(sim.request_log("GET", MY_TRADES))
    assert await connector.fetch_order_trades(BTC, created.exchange_order_id) == []
    assert len(sim.request_log("GET", MY_TRADES)) == before + 1


async def test_an_exchange_ccxt_cannot_ask_by_order_answers_none_without_a_request() -> None:
    # Kraken's fetchOrderTrades is "emulated": it needs the order's trade ids, so we scan instead.
    kraken = CcxtConnector("kraken")
    try:
        assert await kraken.fetch_order_trades(BTC, "O-1") is None
    finally:
        await kraken.close()
