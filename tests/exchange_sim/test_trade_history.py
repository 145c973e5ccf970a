"""myTrades by order (``orderId``) among a busy account's history, through a real ccxt binance,
and the bulk control operation that makes such a history."""

from __future__ import annotations

from typing import Any

import aiohttp
import ccxt.async_support as ccxt_async
import pytest

from tests.exchange_sim import DEFAULT_API_KEY, BinanceSimulator

BTC = "BTC/USDT"


def numeric_ids(trades: list[dict[str, Any]]) -> list[int]:
    return sorted(int(t["id"]) for t in trades)


async def test_an_orders_trades_are_found_among_thousands_of_others(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 99000)
    assert sim.add_past_trades(3000, BTC, per_order=7) == 429  # 428 of 7 and one of 4
    first = sim.fill_order(int(order["id"]), quantity="0.004")
    sim.add_past_trades(2000, BTC)
    second = sim.fill_order(int(order["id"]))

    trades = await exchange.fetch_order_trades(order["id"], BTC)

    assert [t["id"] for t in trades] == [str(first.trade_id), str(second.trade_id)]
    assert {t["order"] for t in trades} == {order["id"]}
    assert sim.requests[-1].params["orderId"] == order["id"]
    # The account's history, paged by time from the order on, is what this saves a bot from.
    assert len(await exchange.fetch_my_trades(BTC, since=order["timestamp"], limit=1000)) == 1000
    assert len(sim.trades(DEFAULT_API_KEY, BTC)) == 5002


async def test_an_orders_trades_page_from_the_first_with_from_id_like_binance(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.add_past_trades(1200, BTC, per_order=1200)
    [busy] = [o for o in sim.orders(symbol=BTC) if o.client_order_id.startswith("elsewhere")]
    ids = [t.trade_id for t in busy.trades]

    default = await exchange.fetch_order_trades(str(busy.order_id), BTC)
    capped = await exchange.fetch_order_trades(str(busy.order_id), BTC, None, 5000)
    last = max(numeric_ids(capped))
    rest = await exchange.fetch_order_trades(
        str(busy.order_id), BTC, None, 1000, {"fromId": str(last)}
    )

    # ccxt sorts by (time, id as a string): compare the sets of ids.
    assert numeric_ids(default) == ids[:500]  # from the first trade on, 500 by default
    assert numeric_ids(capped) == ids[:1000]  # at most 1000
    assert numeric_ids(rest) == ids[999:]  # fromId is inclusive


@pytest.mark.parametrize(
    "params",
    [
        {"orderId": "1", "startTime": "1"},
        {"orderId": "1", "endTime": "1"},
        {"fromId": "1", "startTime": "1"},
        {"fromId": "1", "endTime": "1"},
        {"orderId": "1", "fromId": "1", "startTime": "1"},
    ],
)
async def test_combinations_binance_refuses_answer_1128(
    sim: BinanceSimulator, exchange: ccxt_async.binance, params: dict[str, str]
) -> None:
    with pytest.raises(ccxt_async.BadRequest, match="Combination of optional parameters invalid"):
        await exchange.fetch_my_trades(BTC, None, None, params)
    assert sim.requests[-1].code == -1128


async def test_an_order_without_trades_or_of_another_account_lists_none(
    sim: BinanceSimulator, exchange: ccxt_async.binance
) -> None:
    sim.add_account("otherKey", "otherSecret", {"USDT": "1000"})
    sim.add_past_trades(3, BTC, api_key="otherKey", per_order=3)
    [theirs] = sim.orders(api_key="otherKey")
    order = await exchange.create_order(BTC, "limit", "buy", 0.01, 90000)
    assert await exchange.fetch_order_trades(order["id"], BTC) == []
    assert await exchange.fetch_order_trades(str(theirs.order_id), BTC) == []


async def test_past_trades_leave_balances_alone_and_are_added_over_http(
    sim: BinanceSimulator,
) -> None:
    before = sim.balances()
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sim.url}/__sim/add_past_trades",
            json={"count": 12000, "symbol": "BTCUSDT", "per_order": 5},
        ) as answer,
    ):
        assert (answer.status, await answer.json()) == (200, {"result": 2400})
    assert len(sim.trades(DEFAULT_API_KEY, BTC)) == 12000
    assert {o.status for o in sim.orders()} == {"FILLED"}
    assert sim.balances() == before
    with pytest.raises(ValueError):
        sim.add_past_trades(0, BTC)
