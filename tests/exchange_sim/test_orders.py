"""Order entry, matching, balances and queries through a real ccxt binance."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import DEFAULT_API_KEY, BinanceSimulator, make_ccxt_binance

D = Decimal
BTC = "BTC/USDT"


def free(sim: BinanceSimulator, asset: str) -> Decimal:
    return sim.balances()[asset]["free"]


def locked(sim: BinanceSimulator, asset: str) -> Decimal:
    return sim.balances()[asset]["locked"]


async def test_resting_limit_buy_locks_quote_and_fills_at_its_limit_when_crossed(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 99000, {"clientOrderId": "g-1"})
    assert order["status"] == "open" and order["clientOrderId"] == "g-1"
    assert sim.requests[-1].params["newClientOrderId"] == "g-1"
    assert (free(sim, "USDT"), locked(sim, "USDT")) == (D("9010"), D("990"))
    assert (await exchange.fetch_balance())["USDT"]["used"] == 990

    sim.set_price_path(BTC, ["99500", "98500", "97000"])
    assert sim.step_price(BTC) == []
    fills = sim.step_price(BTC)
    assert [(t.price, t.qty, t.is_maker) for t in fills] == [(D("99000"), D("0.01"), True)]

    done = await exchange.fetch_order(order["id"], BTC)
    assert (done["status"], done["filled"], done["cost"]) == ("closed", 0.01, 990)
    assert (free(sim, "USDT"), locked(sim, "USDT")) == (D("9010"), D(0))
    assert free(sim, "BTC") == D("1.00999")  # 0.01 bought, 0.1% commission paid in BTC
    [trade] = await exchange.fetch_my_trades(BTC)
    assert trade["order"] == order["id"] and trade["price"] == 99000
    assert trade["fee"] == {"currency": "BTC", "cost": 0.00001}
    assert trade["takerOrMaker"] == "maker"


async def test_marketable_limit_fills_at_once_at_the_better_current_price(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 101000)
    assert order["status"] == "closed" and order["average"] == 100000
    assert [t.is_maker for t in sim.trades()] == [False]
    # The reservation at 101000 is released; only 0.01 * 100000 is spent.
    assert (free(sim, "USDT"), locked(sim, "USDT")) == (D("9000"), D(0))


async def test_market_orders_fill_at_the_current_price_with_binance_fee_assets(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sell = await exchange.create_order(BTC, "market", "sell", 0.1)
    assert sell["status"] == "closed" and sell["filled"] == 0.1
    assert sell["fee"]["currency"] == "USDT" and sell["fee"]["cost"] == 10
    assert free(sim, "USDT") == D("19990") and free(sim, "BTC") == D("0.9")

    sim.set_price(BTC, 50000)
    buy = await exchange.create_market_buy_order_with_cost(BTC, 500)
    assert sim.requests[-1].params["quoteOrderQty"] == "500"
    assert buy["filled"] == 0.01 and buy["cost"] == 500
    assert free(sim, "USDT") == D("19490") and free(sim, "BTC") == D("0.90999")


async def test_fetch_order_by_client_id_and_all_orders(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    placed = await exchange.create_order(
        BTC, "limit", "sell", 0.02, 120000, {"clientOrderId": "s-7"}
    )
    by_client = await exchange.fetch_order(None, BTC, {"clientOrderId": "s-7"})
    assert by_client["id"] == placed["id"] and by_client["status"] == "open"
    assert sim.requests[-1].params["origClientOrderId"] == "s-7"
    # Binance's own parameter name is passed through unchanged as well.
    by_native = await exchange.fetch_order(None, BTC, {"origClientOrderId": "s-7"})
    assert by_native["id"] == placed["id"]
    assert locked(sim, "BTC") == D("0.02")
    history = await exchange.fetch_orders(BTC)
    assert [o["clientOrderId"] for o in history] == ["s-7"]


async def test_cancel_by_id_and_by_client_id_releases_the_reservation(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    first = await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "c-1"})
    await exchange.create_order(BTC, "limit", "buy", 0.02, 80000, {"clientOrderId": "c-2"})
    assert locked(sim, "USDT") == D("2500")

    canceled = await exchange.cancel_order(first["id"], BTC)
    assert canceled["status"] == "canceled"
    # Binance names the cancel request's own id clientOrderId; ccxt surfaces that one.
    assert canceled["info"]["origClientOrderId"] == "c-1"
    assert canceled["clientOrderId"] != "c-1"
    by_client = await exchange.cancel_order(None, BTC, {"clientOrderId": "c-2"})
    assert by_client["info"]["origClientOrderId"] == "c-2"
    assert sim.requests[-1].params["origClientOrderId"] == "c-2"
    assert (free(sim, "USDT"), locked(sim, "USDT")) == (D("10000"), D(0))
    assert await exchange.fetch_open_orders(BTC) == []
    await exchange.create_order(BTC, "limit", "buy", 0.01, 90000)
    await exchange.create_order(BTC, "limit", "sell", 0.01, 110000)
    assert len(await exchange.cancel_all_orders(BTC)) == 2
    assert sim.requests[-1].method == "DELETE" and sim.requests[-1].path == "/api/v3/openOrders"
    assert sim.orders(status="NEW") == [] and locked(sim, "BTC") == 0


async def test_open_orders_are_per_account_and_symbol(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.add_account("other-key", "other-secret", {"USDT": 1000})
    other = make_ccxt_binance(sim.url, "other-key", "other-secret")
    try:
        theirs = await other.create_order(BTC, "limit", "buy", 0.001, 90000)
        mine = await exchange.create_order(BTC, "limit", "buy", 0.001, 90000)
        await exchange.create_order("ETH/USDT", "limit", "buy", 0.01, 2000)
        assert [o["id"] for o in await exchange.fetch_open_orders(BTC)] == [mine["id"]]
        exchange.options["fetchOpenOrders"]["warnWithoutSymbol"] = False
        everywhere = await exchange.fetch_open_orders()
        assert {o["symbol"] for o in everywhere} == {BTC, "ETH/USDT"}
        with pytest.raises(ccxt_async.OrderNotFound):
            await exchange.fetch_order(theirs["id"], BTC)
        with pytest.raises(ccxt_async.OrderNotFound):
            await exchange.cancel_order(theirs["id"], BTC)
    finally:
        await other.close()


async def test_partial_fills_then_full_fill_record_each_trade(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 99000)
    first = sim.fill_order(int(order["id"]), quantity="0.004")
    partial = await exchange.fetch_order(order["id"], BTC)
    assert (partial["status"], partial["filled"], partial["remaining"]) == ("open", 0.004, 0.006)
    assert locked(sim, "USDT") == D("594")  # 0.006 still reserved at 99000
    await asyncio.sleep(0.005)  # distinct trade timestamps for the `since` filter
    [second] = sim.set_price(BTC, 98000)
    assert second.qty == D("0.006") and second.trade_id != first.trade_id
    trades = await exchange.fetch_my_trades(BTC)
    assert [t["id"] for t in trades] == [str(first.trade_id), str(second.trade_id)]
    since = await exchange.fetch_my_trades(BTC, since=second.time)
    assert [t["id"] for t in since] == [str(second.trade_id)]
    assert (await exchange.fetch_order(order["id"], BTC))["status"] == "closed"


async def test_duplicate_client_id_is_rejected_only_while_the_first_order_is_open(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "dup"})
    with pytest.raises(ccxt_async.InvalidOrder, match="Duplicate order sent"):
        await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "dup"})
    assert len(sim.orders(client_order_id="dup")) == 1
    assert sim.create_request_count("dup") == 2
    await exchange.cancel_order(None, BTC, {"clientOrderId": "dup"})
    again = await exchange.create_order(BTC, "limit", "buy", 0.01, 90000, {"clientOrderId": "dup"})
    assert again["status"] == "open"
    # By client id, Binance answers with the newest order carrying it.
    assert (await exchange.fetch_order(None, BTC, {"clientOrderId": "dup"}))["id"] == again["id"]


async def test_repeating_a_filled_market_order_client_id_trades_twice(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    """The trap a blind retry falls into: the id is free again once the first order filled."""
    await exchange.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "buy-1"})
    await exchange.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "buy-1"})
    assert [o.status for o in sim.orders(client_order_id="buy-1")] == ["FILLED", "FILLED"]
    assert free(sim, "BTC") == D("1.01998")


async def test_insufficient_balance_creates_nothing(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    with pytest.raises(ccxt_async.InsufficientFunds):
        await exchange.create_order(BTC, "limit", "buy", 1, 99000)
    with pytest.raises(ccxt_async.InsufficientFunds):
        await exchange.create_order(BTC, "market", "sell", 2)
    assert sim.orders() == [] and free(sim, "USDT") == D("10000")
    assert [r.code for r in sim.request_log("POST", "/api/v3/order")] == [-2010, -2010]


async def test_filter_violations_map_to_invalid_order_or_bad_request(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    with pytest.raises(ccxt_async.InvalidOrder, match="LOT_SIZE"):
        await exchange.private_post_order({**base, "quantity": "0.000015", "price": "90000"})
    with pytest.raises(ccxt_async.InvalidOrder, match="PRICE_FILTER"):
        await exchange.private_post_order({**base, "quantity": "0.001", "price": "90000.005"})
    # ccxt has no message rule for NOTIONAL: -1013 maps to BadRequest, not InvalidOrder.
    with pytest.raises(ccxt_async.BadRequest, match="Filter failure: NOTIONAL"):
        await exchange.create_order(BTC, "limit", "buy", 0.00001, 99000)
    with pytest.raises(ccxt_async.BadSymbol):
        await exchange.private_post_order({**base, "symbol": "DOGEUSDT", "quantity": "1"})
    assert sim.orders() == []


async def test_unknown_orders_are_not_found_on_query_and_cancel(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    with pytest.raises(ccxt_async.OrderNotFound, match="-2013"):
        await exchange.fetch_order("424242", BTC)
    with pytest.raises(ccxt_async.OrderNotFound, match="-2013"):
        await exchange.fetch_order(None, BTC, {"clientOrderId": "never-sent"})
    with pytest.raises(ccxt_async.OrderNotFound, match="-2011"):
        await exchange.cancel_order("424242", BTC)
    filled = await exchange.create_order(BTC, "market", "buy", 0.001)
    with pytest.raises(ccxt_async.OrderNotFound, match="-2011"):
        await exchange.cancel_order(filled["id"], BTC)


async def test_post_only_and_ioc_orders(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    with pytest.raises(ccxt_async.OrderImmediatelyFillable):
        await exchange.create_order(BTC, "limit", "buy", 0.01, 100500, {"postOnly": True})
    maker = await exchange.create_order(BTC, "limit", "buy", 0.01, 99000, {"postOnly": True})
    assert maker["status"] == "open" and maker["info"]["type"] == "LIMIT_MAKER"
    ioc = await exchange.create_order(BTC, "limit", "buy", 0.01, 98000, {"timeInForce": "IOC"})
    assert ioc["status"] == "expired" and ioc["filled"] == 0
    assert locked(sim, "USDT") == D("990")  # only the post-only order still reserves funds
    assert (
        sim.orders(api_key=DEFAULT_API_KEY, status="EXPIRED")[0].client_order_id
        == (ioc["clientOrderId"])
    )
