"""CcxtConnector through the real ccxt against the Binance simulator: data in our types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from autogrid.exchanges import errors as ours
from autogrid.exchanges.ccxt import CcxtConnector
from autogrid.exchanges.types import (
    ApiCredentials,
    ExchangeOrderStatus,
    MarketRules,
    OrderType,
    Side,
)
from tests.exchange_sim import BinanceSimulator
from tests.exchanges.conftest import ConnectorMaker, OrderIds, limit_order, market_order

D = Decimal


async def test_markets_become_market_rules(connector: CcxtConnector, sim: BinanceSimulator) -> None:
    markets = await connector.load_markets()
    assert set(markets) == {"BTC/USDT", "ETH/USDT"}
    btc = markets["BTC/USDT"]
    assert btc == MarketRules(
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        amount_step=D("0.00001"),
        price_tick=D("0.01"),
        min_amount=D("0.00001"),
        max_amount=D("9000"),
        min_cost=D("5"),
        min_price=D("0.01"),
        max_price=D("1000000"),
        maker_fee=btc.maker_fee,
        taker_fee=btc.taker_fee,
        active=True,
    )
    assert all(isinstance(v, Decimal) for v in (btc.maker_fee, btc.taker_fee))
    assert await connector.market("ETH/USDT") == markets["ETH/USDT"]
    # cached: no second exchangeInfo request
    await connector.load_markets()
    assert len(sim.request_log("GET", "/api/v3/exchangeInfo")) == 1
    assert sim.unhandled_requests() == []


async def test_unknown_market(connector: CcxtConnector) -> None:
    with pytest.raises(ours.OrderRejected, match="no spot market DOGE/USDT"):
        await connector.market("DOGE/USDT")


async def test_ticker(connector: CcxtConnector, sim: BinanceSimulator) -> None:
    sim.set_price("BTC/USDT", "101234.56")
    ticker = await connector.fetch_ticker("BTC/USDT")
    assert ticker.symbol == "BTC/USDT"
    assert ticker.last == D("101234.56")
    assert ticker.bid is not None and ticker.ask is not None and ticker.bid <= ticker.ask
    assert ticker.ts.tzinfo is not None
    assert abs(ticker.ts - datetime.now(UTC)) < timedelta(minutes=1)


async def test_order_book(connector: CcxtConnector) -> None:
    book = await connector.fetch_order_book("BTC/USDT", limit=5)
    assert 0 < len(book.bids) <= 5 and 0 < len(book.asks) <= 5
    assert all(isinstance(p, Decimal) and isinstance(a, Decimal) for p, a in book.bids + book.asks)
    assert book.bids[0][0] < book.asks[0][0]
    assert [p for p, _ in book.bids] == sorted((p for p, _ in book.bids), reverse=True)


async def test_ohlcv_pages_forward_from_since(
    connector: CcxtConnector, sim: BinanceSimulator
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    start_ms = int(start.timestamp() * 1000)
    rows = [
        [start_ms + i * 60_000, str(100 + i), str(101 + i), str(99 + i), str(100.5 + i), "2.5"]
        for i in range(2500)
    ]
    sim.set_candles("BTC/USDT", "1m", rows)
    before = len(sim.request_log("GET", "/api/v3/klines"))
    candles = await connector.fetch_ohlcv("BTC/USDT", "1m", since=start, limit=2300)
    assert len(candles) == 2300
    assert len(sim.request_log("GET", "/api/v3/klines")) - before == 3  # 1000 + 1000 + 300
    assert [c.ts for c in candles] == [start + timedelta(minutes=i) for i in range(2300)]
    assert candles[7].open == D("107") and candles[7].close == D("107.5")
    assert candles[7].volume == D("2.5")
    # asking past the end returns what exists and stops
    tail = await connector.fetch_ohlcv(
        "BTC/USDT", "1m", since=start + timedelta(minutes=2400), limit=1000
    )
    assert len(tail) == 100


async def test_naive_datetimes_are_refused(connector: CcxtConnector) -> None:
    with pytest.raises(ValueError, match="aware"):
        await connector.fetch_ohlcv("BTC/USDT", "1m", since=datetime(2024, 1, 1), limit=5)


async def test_ohlcv_latest(connector: CcxtConnector, sim: BinanceSimulator) -> None:
    # A page past the first is asked for from the connector's own clock: a minute turning over
    # between storing the candles and fetching them shifts the window by one. Such a run proves
    # nothing, so it is done again (at most twice more: a minute cannot turn three times).
    for _ in range(3):
        now_minute = datetime.now(UTC).replace(second=0, microsecond=0)
        start_ms = int((now_minute - timedelta(minutes=1499)).timestamp() * 1000)
        sim.set_candles(
            "BTC/USDT",
            "1m",
            [[start_ms + i * 60_000, "1", "2", "0.5", "1.5", "3"] for i in range(1500)],
        )
        latest = await connector.fetch_ohlcv("BTC/USDT", "1m", limit=10)
        many = await connector.fetch_ohlcv("BTC/USDT", "1m", limit=1200)  # more than one page
        if datetime.now(UTC).replace(second=0, microsecond=0) == now_minute:
            break
    assert len(latest) == 10 and latest[-1].ts == now_minute
    assert len(many) == 1200 and many[-1].ts == now_minute
    assert many[0].ts == now_minute - timedelta(minutes=1199)


async def test_balance(connector: CcxtConnector, new_cid: OrderIds) -> None:
    balances = await connector.fetch_balance()
    assert {c: b.total for c, b in balances.items()} == {
        "USDT": D("10000"),
        "BTC": D("1"),
        "ETH": D("10"),
    }
    await connector.create_order(await limit_order(connector, new_cid(), price="90000"))
    usdt = (await connector.fetch_balance())["USDT"]
    assert usdt.used == D("90") and usdt.free == D("9910")


async def test_limit_order_lifecycle(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    cid = new_cid()
    request = await limit_order(connector, cid, amount="0.0015", price="95000.5")
    created = await connector.create_order(request)
    assert created.client_order_id == cid
    assert (created.symbol, created.side, created.type) == ("BTC/USDT", Side.BUY, OrderType.LIMIT)
    assert created.status is ExchangeOrderStatus.OPEN
    assert (created.amount, created.filled, created.price) == (D("0.0015"), D(0), D("95000.5"))
    [on_exchange] = sim.orders(client_order_id=cid)
    assert str(on_exchange.order_id) == created.exchange_order_id

    by_id = await connector.fetch_order("BTC/USDT", exchange_order_id=created.exchange_order_id)
    by_cid = await connector.fetch_order("BTC/USDT", client_order_id=cid)
    assert by_id == by_cid
    assert by_id is not None and by_id.exchange_order_id == created.exchange_order_id

    open_orders = await connector.fetch_open_orders("BTC/USDT")
    assert [o.client_order_id for o in open_orders] == [cid]
    assert [o.client_order_id for o in await connector.fetch_open_orders()] == [cid]

    canceled = await connector.cancel_order("BTC/USDT", exchange_order_id=created.exchange_order_id)
    assert canceled is not None and canceled.status is ExchangeOrderStatus.CANCELED
    assert await connector.fetch_open_orders("BTC/USDT") == []
    # cancelling again: the exchange has nothing open by that id
    assert await connector.cancel_order("BTC/USDT", client_order_id=cid) is None
    final = await connector.fetch_order("BTC/USDT", client_order_id=cid)
    assert final is not None and final.status is ExchangeOrderStatus.CANCELED


async def test_fetch_order_returns_none_when_not_found(connector: CcxtConnector) -> None:
    assert await connector.fetch_order("BTC/USDT", client_order_id="never-sent") is None
    assert await connector.fetch_order("BTC/USDT", exchange_order_id="987654321") is None
    with pytest.raises(ValueError):
        await connector.fetch_order("BTC/USDT")


async def test_cancel_by_client_id(connector: CcxtConnector, new_cid: OrderIds) -> None:
    cid = new_cid()
    await connector.create_order(await limit_order(connector, cid, side=Side.SELL, price="120000"))
    canceled = await connector.cancel_order("BTC/USDT", client_order_id=cid)
    assert canceled is not None and canceled.status is ExchangeOrderStatus.CANCELED


async def test_market_order_fills_and_shows_in_my_trades(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    sim.set_price("BTC/USDT", "100000")
    cid = new_cid()
    order = await connector.create_order(await market_order(connector, cid, amount="0.002"))
    assert order.type is OrderType.MARKET
    assert order.status is ExchangeOrderStatus.CLOSED
    assert order.filled == D("0.002") and order.average_price is not None
    trades = await connector.fetch_my_trades("BTC/USDT")
    assert len(trades) >= 1
    trade = trades[-1]
    assert trade.exchange_order_id == order.exchange_order_id
    assert trade.side is Side.BUY and trade.amount == D("0.002")
    assert isinstance(trade.price, Decimal) and trade.fee is not None
    assert trade.is_maker is False and trade.ts.tzinfo is not None
    since = await connector.fetch_my_trades("BTC/USDT", since=trade.ts + timedelta(seconds=1))
    assert since == []


async def test_resting_order_filled_by_the_market(
    connector: CcxtConnector, sim: BinanceSimulator, new_cid: OrderIds
) -> None:
    cid = new_cid()
    created = await connector.create_order(await limit_order(connector, cid, price="99000"))
    sim.set_price("BTC/USDT", "98000")
    filled = await connector.fetch_order("BTC/USDT", exchange_order_id=created.exchange_order_id)
    assert filled is not None and filled.status is ExchangeOrderStatus.CLOSED
    assert filled.filled == D("0.001")
    [trade] = await connector.fetch_my_trades("BTC/USDT")
    assert trade.is_maker is True and trade.price == D("99000")


async def test_insufficient_funds(connector: CcxtConnector, sim: BinanceSimulator) -> None:
    request = await limit_order(connector, "ag-big", amount="1", price="99000")
    with pytest.raises(ours.InsufficientFunds):
        await connector.create_order(request)
    assert sim.orders(client_order_id="ag-big") == []


async def test_exchange_rejection_is_order_rejected(connector: CcxtConnector) -> None:
    """Our rules would have caught it; the exchange's own filters answer the same."""
    from autogrid.exchanges.types import OrderRequest

    off_grid = OrderRequest("BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.001"), D("1.001"), "x1")
    with pytest.raises(ours.OrderRejected):
        await connector.create_order(off_grid)


async def test_key_permissions(connector: CcxtConnector, sim: BinanceSimulator) -> None:
    from tests.exchange_sim import DEFAULT_API_KEY

    permissions = await connector.fetch_key_permissions()
    assert permissions is not None
    assert (permissions.can_trade, permissions.can_withdraw) == (True, False)
    assert permissions.raw["enableReading"] is True
    sim.set_permissions(DEFAULT_API_KEY, enable_withdrawals=True)
    permissions = await connector.fetch_key_permissions()
    assert permissions is not None and permissions.can_withdraw is True


async def test_key_permissions_are_unknown_elsewhere(make_connector: ConnectorMaker) -> None:
    assert await make_connector(None).fetch_key_permissions() is None  # public data only
    testnet = CcxtConnector("binance", ApiCredentials("k" * 64, "s" * 64), sandbox=True)
    assert await testnet.fetch_key_permissions() is None  # the testnet has no sapi
    kraken = CcxtConnector("kraken", ApiCredentials("k" * 20, "c2VjcmV0"))
    assert await kraken.fetch_key_permissions() is None
    await testnet.close()
    await kraken.close()


async def test_public_connector_reads_market_data(make_connector: ConnectorMaker) -> None:
    public = make_connector(None)
    assert (await public.fetch_ticker("ETH/USDT")).last == D("2500")
    with pytest.raises(ours.AuthenticationFailed):
        await public.fetch_balance()


async def test_sandbox_mode_switches_to_the_testnet_urls() -> None:
    testnet = CcxtConnector("binance", None, sandbox=True)
    assert "testnet" in testnet._exchange.urls["api"]["public"]
    await testnet.close()
    with pytest.raises(ValueError, match="no sandbox"):
        CcxtConnector("upbit", None, sandbox=True)
