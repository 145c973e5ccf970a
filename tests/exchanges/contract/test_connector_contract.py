"""One set of behavioural tests for every ``ExchangeConnector``: what a bot may rely on, whichever
exchange (real, through ccxt, or paper) it trades on.

Where the implementations may differ, the tests say only what both promise: a limit buy locks at
least its cost (the paper exchange also holds its maker fee); the fee of a fill is reported but
its currency varies (Binance takes it from what a buyer receives, the paper exchange in quote); a
market order has filled once the venue has seen the next price (the ccxt simulator fills it at
once, a paper replay at the next candle's open, like the backtest).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from autogrid.exchanges import errors
from autogrid.exchanges.base import ExchangeConnector
from autogrid.exchanges.rules import prepare_order
from autogrid.exchanges.types import (
    ExchangeOrder,
    ExchangeOrderStatus,
    ExchangeTrade,
    OrderRequest,
    OrderType,
    Side,
)
from tests.exchanges.contract.conftest import START_BALANCES, START_PRICES, Venue

D = Decimal
BTC = "BTC/USDT"
ETH = "ETH/USDT"


async def limit_request(
    connector: ExchangeConnector, cid: str, side: Side, amount: str, price: str, symbol: str = BTC
) -> OrderRequest:
    rules = await connector.market(symbol)
    return prepare_order(rules, side, OrderType.LIMIT, D(amount), D(price), cid)


async def market_request(
    connector: ExchangeConnector, cid: str, side: Side, amount: str, symbol: str = BTC
) -> OrderRequest:
    rules = await connector.market(symbol)
    return prepare_order(
        rules, side, OrderType.MARKET, D(amount), None, cid, reference_price=START_PRICES[symbol]
    )


async def fetched(connector: ExchangeConnector, order: ExchangeOrder) -> ExchangeOrder:
    found = await connector.fetch_order(order.symbol, exchange_order_id=order.exchange_order_id)
    assert found is not None
    return found


def only_trade(trades: list[ExchangeTrade] | None) -> ExchangeTrade:
    """The single trade of an order, listed by a connector that lists an order's trades."""
    assert trades is not None
    [trade] = trades
    return trade


async def test_market_rules(venue: Venue) -> None:
    markets = await venue.connector.load_markets()
    assert {BTC, ETH} <= markets.keys()
    btc = await venue.connector.market(BTC)
    assert (btc.symbol, btc.base, btc.quote) == (BTC, "BTC", "USDT")
    assert (btc.amount_step, btc.price_tick) == (D("0.00001"), D("0.01"))
    assert (btc.min_amount, btc.min_cost) == (D("0.00001"), D(5))
    assert btc.active and btc.maker_fee >= 0 and btc.taker_fee >= 0


async def test_ticker_follows_the_market(venue: Venue) -> None:
    await venue.trade_at(BTC, D("101234.56"))
    ticker = await venue.connector.fetch_ticker(BTC)
    assert (ticker.symbol, ticker.last) == (BTC, D("101234.56"))
    assert ticker.ts.tzinfo is not None


async def test_balance_and_what_an_order_locks(venue: Venue) -> None:
    connector = venue.connector
    balances = await connector.fetch_balance()
    assert {c: b.total for c, b in balances.items()} == START_BALANCES
    assert all(b.used == 0 for b in balances.values())
    await connector.create_order(
        await limit_request(connector, "lock-1", Side.BUY, "0.001", "90000")
    )
    usdt = (await connector.fetch_balance())["USDT"]
    assert usdt.used >= D(90)  # at least the order's cost
    assert usdt.free + usdt.used == START_BALANCES["USDT"]


async def test_a_limit_buy_rests_then_fills_when_the_price_crosses_it(venue: Venue) -> None:
    connector = venue.connector
    created = await connector.create_order(
        await limit_request(connector, "rest-1", Side.BUY, "0.001", "99000")
    )
    assert created.status is ExchangeOrderStatus.OPEN
    assert (created.client_order_id, created.side, created.type) == (
        "rest-1",
        Side.BUY,
        OrderType.LIMIT,
    )
    assert (created.amount, created.filled, created.price) == (D("0.001"), D(0), D(99000))
    await venue.trade_at(BTC, D(99500))  # not low enough
    assert (await fetched(connector, created)).status is ExchangeOrderStatus.OPEN
    await venue.trade_at(BTC, D(98000))
    filled = await fetched(connector, created)
    assert filled.status is ExchangeOrderStatus.CLOSED
    assert (filled.filled, filled.average_price) == (D("0.001"), D(99000))
    [trade] = await connector.fetch_my_trades(BTC)
    assert trade.exchange_order_id == created.exchange_order_id
    assert trade.client_order_id in (None, "rest-1")  # Binance's trades do not carry it
    assert (trade.side, trade.price, trade.amount, trade.is_maker) == (
        Side.BUY,
        D(99000),
        D("0.001"),
        True,
    )
    assert trade.fee is not None and trade.fee.cost > 0
    assert await connector.fetch_open_orders(BTC) == []
    btc = (await connector.fetch_balance())["BTC"]
    assert START_BALANCES["BTC"] < btc.total <= START_BALANCES["BTC"] + D("0.001")


async def test_a_limit_sell_fills_when_the_price_rises_to_it(venue: Venue) -> None:
    connector = venue.connector
    created = await connector.create_order(
        await limit_request(connector, "sell-1", Side.SELL, "0.5", "101000")
    )
    assert (await connector.fetch_balance())["BTC"].used == D("0.5")
    await venue.trade_at(BTC, D(102000))
    [trade] = await connector.fetch_my_trades(BTC)
    assert (trade.exchange_order_id, trade.side, trade.price) == (
        created.exchange_order_id,
        Side.SELL,
        D(101000),
    )
    usdt = (await connector.fetch_balance())["USDT"]
    assert (
        START_BALANCES["USDT"] + 50_500 > usdt.total > START_BALANCES["USDT"] + 50_500 * D("0.99")
    )


async def test_a_market_order_fills_at_the_next_price(venue: Venue) -> None:
    connector = venue.connector
    created = await connector.create_order(
        await market_request(connector, "mkt-1", Side.BUY, "0.002")
    )
    assert (created.type, created.amount) == (OrderType.MARKET, D("0.002"))
    await venue.trade_at(BTC, START_PRICES[BTC])
    filled = await fetched(connector, created)
    assert (filled.status, filled.filled, filled.average_price) == (
        ExchangeOrderStatus.CLOSED,
        D("0.002"),
        START_PRICES[BTC],
    )
    [trade] = await connector.fetch_my_trades(BTC)
    assert (trade.exchange_order_id, trade.amount, trade.is_maker) == (
        created.exchange_order_id,
        D("0.002"),
        False,
    )
    assert await connector.fetch_my_trades(BTC, since=trade.ts + timedelta(seconds=1)) == []
    assert await connector.fetch_my_trades(BTC, since=trade.ts) == [trade]


async def test_fetch_by_exchange_id_or_client_id(venue: Venue) -> None:
    connector = venue.connector
    created = await connector.create_order(
        await limit_request(connector, "find-1", Side.BUY, "0.001", "95000.5")
    )
    by_id = await connector.fetch_order(BTC, exchange_order_id=created.exchange_order_id)
    by_cid = await connector.fetch_order(BTC, client_order_id="find-1")
    assert by_id is not None and by_id == by_cid
    assert (by_id.exchange_order_id, by_id.client_order_id, by_id.price) == (
        created.exchange_order_id,
        "find-1",
        D("95000.5"),
    )


async def test_an_unknown_order_is_none(venue: Venue) -> None:
    assert await venue.connector.fetch_order(BTC, client_order_id="never-sent") is None
    assert await venue.connector.fetch_order(BTC, exchange_order_id="987654321") is None
    with pytest.raises(ValueError):
        await venue.connector.fetch_order(BTC)


async def test_cancel_frees_the_funds_and_a_second_cancel_finds_nothing(venue: Venue) -> None:
    connector = venue.connector
    created = await connector.create_order(
        await limit_request(connector, "cx-1", Side.BUY, "0.001", "90000")
    )
    canceled = await connector.cancel_order(BTC, exchange_order_id=created.exchange_order_id)
    assert canceled is not None and canceled.status is ExchangeOrderStatus.CANCELED
    assert canceled.exchange_order_id == created.exchange_order_id
    assert await connector.fetch_open_orders(BTC) == []
    assert (await connector.fetch_balance())["USDT"].used == 0
    assert await connector.cancel_order(BTC, client_order_id="cx-1") is None
    assert await connector.cancel_order(BTC, exchange_order_id=created.exchange_order_id) is None
    final = await connector.fetch_order(BTC, client_order_id="cx-1")
    assert final is not None and final.status is ExchangeOrderStatus.CANCELED
    await venue.trade_at(BTC, D(80000))  # a canceled order never fills
    assert await connector.fetch_my_trades(BTC) == []


async def test_cancel_by_client_id(venue: Venue) -> None:
    connector = venue.connector
    await connector.create_order(
        await limit_request(connector, "cx-2", Side.SELL, "0.01", "120000")
    )
    canceled = await connector.cancel_order(BTC, client_order_id="cx-2")
    assert canceled is not None and canceled.status is ExchangeOrderStatus.CANCELED
    assert (await connector.fetch_balance())["BTC"].used == 0


async def test_open_orders_per_symbol_and_in_all(venue: Venue) -> None:
    connector = venue.connector
    await connector.create_order(
        await limit_request(connector, "o-btc", Side.BUY, "0.001", "90000")
    )
    await connector.create_order(
        await limit_request(connector, "o-eth", Side.SELL, "1", "3000", ETH)
    )
    everything = await connector.fetch_open_orders()
    assert sorted(o.client_order_id or "" for o in everything) == ["o-btc", "o-eth"]
    assert [o.client_order_id for o in await connector.fetch_open_orders(ETH)] == ["o-eth"]
    assert all(o.status is ExchangeOrderStatus.OPEN for o in everything)


async def test_a_client_id_is_refused_while_its_order_is_open_and_reusable_after(
    venue: Venue,
) -> None:
    connector = venue.connector
    request = await limit_request(connector, "dup-1", Side.BUY, "0.001", "90000")
    first = await connector.create_order(request)
    with pytest.raises(errors.DuplicateClientOrderId):
        await connector.create_order(request)
    assert [o.exchange_order_id for o in await connector.fetch_open_orders(BTC)] == [
        first.exchange_order_id
    ]
    await connector.cancel_order(BTC, client_order_id="dup-1")
    again = await connector.create_order(request)  # Binance accepts it once the first is closed
    assert again.exchange_order_id != first.exchange_order_id
    found = await connector.fetch_order(BTC, client_order_id="dup-1")
    assert found is not None and found.exchange_order_id == again.exchange_order_id


async def test_insufficient_funds_are_refused(venue: Venue) -> None:
    connector = venue.connector
    with pytest.raises(errors.InsufficientFunds):
        await connector.create_order(await limit_request(connector, "big", Side.BUY, "1", "99000"))
    with pytest.raises(errors.InsufficientFunds):
        await connector.create_order(
            await limit_request(connector, "big-sell", Side.SELL, "2", "101000")
        )
    assert await connector.fetch_order(BTC, client_order_id="big") is None
    assert {c: b.free for c, b in (await connector.fetch_balance()).items()} == START_BALANCES


async def test_an_order_below_the_minimum_value_is_rejected(venue: Venue) -> None:
    """What our own rules would have stopped, the exchange refuses too (never as funds)."""
    tiny = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, D("0.00001"), D(90000), "tiny-1")
    with pytest.raises(errors.OrderRejected) as refused:
        await venue.connector.create_order(tiny)
    assert not isinstance(refused.value, errors.InsufficientFunds)
    assert await venue.connector.fetch_open_orders() == []


async def test_an_unprepared_order_is_rounded_as_prepare_order_rounds(venue: Venue) -> None:
    """Requests should come from ``prepare_order``; one that did not is rounded the same way
    (ccxt rounds before sending: amount down to the step, price to the nearest tick)."""
    request = OrderRequest(BTC, Side.BUY, OrderType.LIMIT, D("0.0010009"), D("90000.005"), "r-1")
    created = await venue.connector.create_order(request)
    assert (created.amount, created.price) == (D("0.001"), D("90000.01"))
    rules = await venue.connector.market(BTC)
    prepared = prepare_order(rules, Side.BUY, OrderType.LIMIT, request.amount, request.price, "r-1")
    assert (prepared.amount, prepared.price) == (created.amount, created.price)


async def test_an_orders_trades_are_listed_by_that_order_alone(venue: Venue) -> None:
    connector = venue.connector
    first = await connector.create_order(
        await limit_request(connector, "by-order-1", Side.BUY, "0.001", "99000")
    )
    other = await connector.create_order(
        await limit_request(connector, "by-order-2", Side.BUY, "0.002", "98500")
    )
    resting = await connector.create_order(
        await limit_request(connector, "by-order-3", Side.BUY, "0.001", "90000")
    )
    await venue.trade_at(BTC, D(98000))  # fills the first two, not the third
    mine = only_trade(await connector.fetch_order_trades(BTC, first.exchange_order_id))
    assert (mine.exchange_order_id, mine.side, mine.price, mine.amount) == (
        first.exchange_order_id,
        Side.BUY,
        D(99000),
        D("0.001"),
    )
    assert mine in await connector.fetch_my_trades(BTC)  # the same trade, however it was found
    theirs = only_trade(await connector.fetch_order_trades(BTC, other.exchange_order_id))
    assert theirs.exchange_order_id == other.exchange_order_id
    assert await connector.fetch_order_trades(BTC, resting.exchange_order_id) == []
